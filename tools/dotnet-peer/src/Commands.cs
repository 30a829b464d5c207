// The six commands, each with the v12 library (Azure.Storage.Blobs / Azure.Storage.Queues) and the legacy one
// (WindowsAzure.Storage 9.3.3, lib/net45: the only build of it that has client-side encryption).
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Queues;
using Azure.Storage.Queues.Specialized;
using Legacy = Microsoft.WindowsAzure.Storage;
using LegacyBlob = Microsoft.WindowsAzure.Storage.Blob;
using LegacyQueue = Microsoft.WindowsAzure.Storage.Queue;
using LegacyTable = Microsoft.WindowsAzure.Storage.Table;

namespace DotnetPeer;

public static class Commands
{
    private static readonly Dictionary<string, bool> BlobPutFlags = new() { ["container"] = true, ["blob"] = true, ["in"] = true, ["protocol"] = true, ["library"] = true, ["key"] = true, ["blob-type"] = true, ["block-size"] = true };
    private static readonly Dictionary<string, bool> BlobGetFlags = new() { ["container"] = true, ["blob"] = true, ["out"] = true, ["key"] = true, ["offset"] = true, ["count"] = true, ["library"] = true };
    private static readonly Dictionary<string, bool> QueuePutFlags = new() { ["queue"] = true, ["in"] = true, ["protocol"] = true, ["encoding"] = true, ["library"] = true, ["key"] = true };
    private static readonly Dictionary<string, bool> QueueGetFlags = new() { ["queue"] = true, ["out"] = true, ["key"] = true, ["encoding"] = true, ["library"] = true };
    private static readonly Dictionary<string, bool> TablePutFlags = new() { ["table"] = true, ["in"] = true, ["encrypt"] = true, ["key"] = true };
    private static readonly Dictionary<string, bool> TableGetFlags = new() { ["table"] = true, ["pk"] = true, ["rk"] = true, ["out"] = true, ["key"] = true };

    private static byte[] ReadInput(string path) => File.Exists(path) ? File.ReadAllBytes(path) : throw new PeerException(3, $"input file not found: {path}");
    private static string Sha256(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private static LocalKey SingleWriteKey(Args a)
    {
        var keys = a.Keys();
        if (keys.Keys.Count != 1) throw new PeerException(1, $"{a.Command}: exactly one --key is used to write");
        return keys.Keys[0];
    }

    private static ClientSideEncryptionVersion V12Version(string protocol) => protocol switch
    {
#pragma warning disable CS0618 // V1_0 is obsolete in v12: exactly what we test.
        "1.0" => ClientSideEncryptionVersion.V1_0,
#pragma warning restore CS0618
        "2.0" => ClientSideEncryptionVersion.V2_0,
        _ => throw new PeerException(1, $"Azure.Storage 12.x cannot write protocol {protocol}: ClientSideEncryptionVersion has only {string.Join(", ", Enum.GetNames<ClientSideEncryptionVersion>())}"),
    };

    private static JsonObject Metadata(IDictionary<string, string> m)
    {
        var o = new JsonObject();
        foreach (var kv in m.OrderBy(k => k.Key, StringComparer.Ordinal)) o[kv.Key] = kv.Value;
        return o;
    }

    // ------------------------------------------------------------------ blob
    public static JsonObject BlobPut(string[] argv)
    {
        var a = new Args(argv, BlobPutFlags);
        string container = a.Req("container"), blob = a.Req("blob");
        var protocol = a.OneOf("protocol", null, "1.0", "2.0", "2.1");
        var library = a.OneOf("library", "v12", "v12", "legacy");
        var type = a.OneOf("blob-type", "block", "block", "page");
        var data = ReadInput(a.Req("in"));
        var key = SingleWriteKey(a);
        var cs = Args.ConnectionString();
        if (library == "v12")
        {
            if (type != "block") throw new PeerException(1, "Azure.Storage.Blobs 12.x encrypts block blobs only (no --blob-type page with v12)");
            var options = new SpecializedBlobClientOptions { ClientSideEncryption = new ClientSideEncryptionOptions(V12Version(protocol)) { KeyEncryptionKey = key, KeyWrapAlgorithm = key.Algorithm } };
            var c = new BlobServiceClient(cs, options).GetBlobContainerClient(container);
            c.CreateIfNotExists();
            var upload = new BlobUploadOptions();
            if (a.Long("block-size") is long bs) upload.TransferOptions = new StorageTransferOptions { InitialTransferSize = bs, MaximumTransferSize = bs, MaximumConcurrency = 1 };
            c.GetBlobClient(blob).Upload(new BinaryData(data), upload);
            var props = new BlobServiceClient(cs).GetBlobContainerClient(container).GetBlobClient(blob).GetProperties().Value;
            return new JsonObject { ["library"] = "v12", ["protocol"] = protocol, ["size"] = data.Length, ["storedSize"] = props.ContentLength, ["blobType"] = props.BlobType.ToString(), ["metadata"] = Metadata(props.Metadata) };
        }
        if (protocol != "1.0") throw new PeerException(1, $"WindowsAzure.Storage 9.3.3 writes protocol 1.0 only, not {protocol}");
        var lc = Legacy.CloudStorageAccount.Parse(cs).CreateCloudBlobClient().GetContainerReference(container);
        lc.CreateIfNotExistsAsync().GetAwaiter().GetResult();
        var opts = new LegacyBlob.BlobRequestOptions { EncryptionPolicy = new LegacyBlob.BlobEncryptionPolicy(key, null), RequireEncryption = true };
        LegacyBlob.CloudBlob written;
        if (type == "page")
        {
            if (data.Length % 512 != 0) throw new PeerException(1, "a page blob's size must be a multiple of 512");
            var pb = lc.GetPageBlobReference(blob);
            pb.UploadFromByteArrayAsync(data, 0, data.Length, null, opts, null).GetAwaiter().GetResult();
            written = pb;
        }
        else
        {
            var bb = lc.GetBlockBlobReference(blob);
            bb.UploadFromByteArrayAsync(data, 0, data.Length, null, opts, null).GetAwaiter().GetResult();
            written = bb;
        }
        written.FetchAttributesAsync().GetAwaiter().GetResult();
        return new JsonObject { ["library"] = "legacy", ["protocol"] = "1.0", ["size"] = data.Length, ["storedSize"] = written.Properties.Length, ["blobType"] = written.Properties.BlobType.ToString(), ["metadata"] = Metadata(written.Metadata) };
    }

    public static JsonObject BlobGet(string[] argv)
    {
        var a = new Args(argv, BlobGetFlags);
        string container = a.Req("container"), blob = a.Req("blob"), outFile = a.Req("out");
        var library = a.OneOf("library", "v12", "v12", "legacy");
        long? offset = a.Long("offset"), count = a.Long("count");
        if (count != null && offset == null) offset = 0;
        var resolver = a.Keys();
        var cs = Args.ConnectionString();
        byte[] bytes;
        if (library == "v12")
        {
            var options = new SpecializedBlobClientOptions { ClientSideEncryption = new ClientSideEncryptionOptions(ClientSideEncryptionVersion.V2_0) { KeyResolver = resolver } };
            var client = new BlobServiceClient(cs, options).GetBlobContainerClient(container).GetBlobClient(blob);
            var dl = new BlobDownloadOptions();
            if (offset != null) dl.Range = new HttpRange(offset.Value, count);
            using var ms = new MemoryStream();
            using (var s = client.DownloadStreaming(dl).Value.Content) s.CopyTo(ms);
            bytes = ms.ToArray();
        }
        else
        {
            var lc = Legacy.CloudStorageAccount.Parse(cs).CreateCloudBlobClient().GetContainerReference(container);
            var opts = new LegacyBlob.BlobRequestOptions { EncryptionPolicy = new LegacyBlob.BlobEncryptionPolicy(null, resolver), RequireEncryption = true };
            var b = lc.GetBlobReferenceFromServerAsync(blob).GetAwaiter().GetResult();
            using var ms = new MemoryStream();
            if (offset != null) b.DownloadRangeToStreamAsync(ms, offset, count, null, opts, null).GetAwaiter().GetResult();
            else b.DownloadToStreamAsync(ms, null, opts, null).GetAwaiter().GetResult();
            bytes = ms.ToArray();
        }
        File.WriteAllBytes(outFile, bytes);
        return new JsonObject { ["library"] = library, ["size"] = bytes.Length, ["sha256"] = Sha256(bytes) };
    }

    // ------------------------------------------------------------------ queue
    public static JsonObject QueuePut(string[] argv)
    {
        var a = new Args(argv, QueuePutFlags);
        var queue = a.Req("queue");
        var protocol = a.OneOf("protocol", null, "1.0", "2.0", "2.1");
        var encoding = a.OneOf("encoding", "none", "none", "base64");
        var library = a.OneOf("library", "v12", "v12", "legacy");
        var text = DecodeUtf8(ReadInput(a.Req("in")));
        var key = SingleWriteKey(a);
        var cs = Args.ConnectionString();
        if (library == "v12")
        {
            var options = new SpecializedQueueClientOptions
            {
                ClientSideEncryption = new QueueClientSideEncryptionOptions(V12Version(protocol)) { KeyEncryptionKey = key, KeyWrapAlgorithm = key.Algorithm },
                MessageEncoding = encoding == "base64" ? QueueMessageEncoding.Base64 : QueueMessageEncoding.None,
            };
            var q = V12Queue(cs, queue, options);
            q.CreateIfNotExists();
            var receipt = q.SendMessage(text).Value;
            return new JsonObject { ["library"] = "v12", ["protocol"] = protocol, ["encoding"] = encoding, ["messageId"] = receipt.MessageId, ["chars"] = text.Length };
        }
        if (protocol != "1.0") throw new PeerException(1, $"WindowsAzure.Storage 9.3.3 writes protocol 1.0 only, not {protocol}");
        var lq = Legacy.CloudStorageAccount.Parse(cs).CreateCloudQueueClient().GetQueueReference(queue);
        lq.EncodeMessage = encoding == "base64";
        lq.CreateIfNotExistsAsync().GetAwaiter().GetResult();
        var opts = new LegacyQueue.QueueRequestOptions { EncryptionPolicy = new LegacyQueue.QueueEncryptionPolicy(key, null), RequireEncryption = true };
        var msg = new LegacyQueue.CloudQueueMessage(text);
        lq.AddMessageAsync(msg, null, null, opts, null).GetAwaiter().GetResult();
        return new JsonObject { ["library"] = "legacy", ["protocol"] = "1.0", ["encoding"] = encoding, ["messageId"] = msg.Id, ["chars"] = text.Length };
    }

    public static JsonObject QueueGet(string[] argv)
    {
        var a = new Args(argv, QueueGetFlags);
        var queue = a.Req("queue");
        var outFile = a.Req("out");
        var encoding = a.OneOf("encoding", "none", "none", "base64");
        var library = a.OneOf("library", "v12", "v12", "legacy");
        var resolver = a.Keys();
        var cs = Args.ConnectionString();
        string text;
        if (library == "v12")
        {
            var options = new SpecializedQueueClientOptions
            {
                ClientSideEncryption = new QueueClientSideEncryptionOptions(ClientSideEncryptionVersion.V2_0) { KeyResolver = resolver },
                MessageEncoding = encoding == "base64" ? QueueMessageEncoding.Base64 : QueueMessageEncoding.None,
            };
            var q = V12Queue(cs, queue, options);
            var msgs = q.ReceiveMessages(1).Value;
            if (msgs.Length == 0) throw new PeerException(3, $"queue {queue} has no visible message");
            text = msgs[0].Body.ToString();
            q.DeleteMessage(msgs[0].MessageId, msgs[0].PopReceipt);
        }
        else
        {
            var lq = Legacy.CloudStorageAccount.Parse(cs).CreateCloudQueueClient().GetQueueReference(queue);
            lq.EncodeMessage = encoding == "base64";
            var opts = new LegacyQueue.QueueRequestOptions { EncryptionPolicy = new LegacyQueue.QueueEncryptionPolicy(null, resolver), RequireEncryption = true };
            var m = lq.GetMessageAsync(null, opts, null).GetAwaiter().GetResult() ?? throw new PeerException(3, $"queue {queue} has no visible message");
            text = m.AsString;
            lq.DeleteMessageAsync(m).GetAwaiter().GetResult();
        }
        var bytes = Encoding.UTF8.GetBytes(text);
        File.WriteAllBytes(outFile, bytes);
        return new JsonObject { ["library"] = library, ["size"] = bytes.Length, ["sha256"] = Sha256(bytes) };
    }

    /// <summary>v12 refuses some option combinations up front (e.g. Base64 message encoding with encryption): exit 1.</summary>
    private static QueueClient V12Queue(string cs, string queue, SpecializedQueueClientOptions options)
    {
        try { return new QueueClient(cs, queue, options); }
        catch (ArgumentException e) { throw new PeerException(1, $"Azure.Storage.Queues 12.28.1 refuses this: {e.Message}"); }
    }

    private static string DecodeUtf8(byte[] b)
    {
        try { return new UTF8Encoding(false, true).GetString(b); }
        catch (DecoderFallbackException) { throw new PeerException(1, "queue message files must be UTF-8 text"); }
    }

    // ------------------------------------------------------------------ table (legacy only)
    public static JsonObject TablePut(string[] argv)
    {
        var a = new Args(argv, TablePutFlags);
        var table = a.Req("table");
        var entity = EntityJson.Read(a.Req("in"));
        var names = a.Req("encrypt").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        if (names.Count == 0) throw new PeerException(1, "--encrypt needs at least one property name");
        var missing = names.Where(n => !entity.Properties.ContainsKey(n)).ToList();
        if (missing.Count > 0) throw new PeerException(1, $"--encrypt names {string.Join(", ", missing)}, which the entity does not have");
        var key = SingleWriteKey(a);
        var t = Legacy.CloudStorageAccount.Parse(Args.ConnectionString()).CreateCloudTableClient().GetTableReference(table);
        t.CreateIfNotExistsAsync().GetAwaiter().GetResult();
        var resolverCalls = new List<string>();
        var opts = new LegacyTable.TableRequestOptions
        {
            EncryptionPolicy = new LegacyTable.TableEncryptionPolicy(key, null),
            RequireEncryption = true,
            // The resolver decides which properties are encrypted (called per property with pk, rk, name).
            EncryptionResolver = (pk, rk, name) => { resolverCalls.Add(name); return names.Contains(name); },
        };
        var r = t.ExecuteAsync(LegacyTable.TableOperation.InsertOrReplace(entity), opts, null).GetAwaiter().GetResult();
        var calls = new JsonArray();
        foreach (var n in resolverCalls.Distinct()) calls.Add(n);
        return new JsonObject { ["library"] = "legacy", ["table"] = table, ["partitionKey"] = entity.PartitionKey, ["rowKey"] = entity.RowKey, ["etag"] = r.Etag, ["encrypted"] = new JsonArray(names.Select(n => (JsonNode)n!).ToArray()), ["resolverCalledFor"] = calls };
    }

    public static JsonObject TableGet(string[] argv)
    {
        var a = new Args(argv, TableGetFlags);
        string table = a.Req("table"), pk = a.Req("pk"), rk = a.Req("rk"), outFile = a.Req("out");
        var resolver = a.Keys();
        var t = Legacy.CloudStorageAccount.Parse(Args.ConnectionString()).CreateCloudTableClient().GetTableReference(table);
        var opts = new LegacyTable.TableRequestOptions { EncryptionPolicy = new LegacyTable.TableEncryptionPolicy(null, resolver), RequireEncryption = true };
        var r = t.ExecuteAsync(LegacyTable.TableOperation.Retrieve(pk, rk), opts, null).GetAwaiter().GetResult();
        if (r.Result is not LegacyTable.DynamicTableEntity e) throw new PeerException(3, $"no entity {pk}/{rk} in table {table} (HTTP {r.HttpStatusCode})");
        var json = EntityJson.Write(e);
        File.WriteAllText(outFile, json.ToJsonString(new System.Text.Json.JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }), new UTF8Encoding(false));
        return new JsonObject { ["library"] = "legacy", ["partitionKey"] = pk, ["rowKey"] = rk, ["properties"] = e.Properties.Count };
    }
}
