// dotnet-peer: the official .NET Azure Storage libraries as an interop peer for azure-cse's tests.
// Contract (tools/dotnet-peer/README.md): commands, flags and exit codes 0 ok, 1 usage (or "this library cannot
// do that"), 2 decryption/encryption failure, 3 not found, 4 service error. Success prints one JSON line.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DotnetPeer;

public sealed class PeerException(int code, string message) : Exception(message)
{
    public int Code { get; } = code;
}

public sealed class Args
{
    private readonly Dictionary<string, List<string>> _values = new();
    public string Command { get; }

    public Args(string[] argv, Dictionary<string, bool> spec)
    {
        if (argv.Length == 0) throw new PeerException(1, "a command is required (run --help)");
        Command = argv[0];
        for (int i = 1; i < argv.Length; i++)
        {
            var a = argv[i];
            if (!a.StartsWith("--")) throw new PeerException(1, $"unexpected argument {a}");
            var name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { inline = name[(eq + 1)..]; name = name[..eq]; }
            if (!spec.TryGetValue(name, out var takesValue)) throw new PeerException(1, $"{Command}: unknown flag --{name}");
            string v = "";
            if (takesValue)
            {
                if (inline != null) v = inline;
                else if (i + 1 < argv.Length) v = argv[++i];
                else throw new PeerException(1, $"--{name} needs a value");
            }
            if (!_values.TryGetValue(name, out var list)) _values[name] = list = new();
            list.Add(v);
        }
    }

    public bool Has(string n) => _values.ContainsKey(n);
    public string? Get(string n) => _values.TryGetValue(n, out var l) ? l[^1] : null;
    public string Req(string n) => Get(n) ?? throw new PeerException(1, $"{Command}: --{n} is required");
    public IReadOnlyList<string> All(string n) => _values.TryGetValue(n, out var l) ? l : Array.Empty<string>();
    public long? Long(string n)
    {
        var s = Get(n);
        if (s == null) return null;
        if (!long.TryParse(s, out var v) || v < 0) throw new PeerException(1, $"--{n} must be a non-negative integer");
        return v;
    }
    public string OneOf(string n, string? dflt, params string[] allowed)
    {
        var v = Get(n) ?? dflt ?? throw new PeerException(1, $"{Command}: --{n} is required ({string.Join("|", allowed)})");
        if (!allowed.Contains(v)) throw new PeerException(1, $"--{n} must be {string.Join(" or ", allowed)}, not {v}");
        return v;
    }
    public LocalResolver Keys()
    {
        var files = All("key");
        if (files.Count == 0) throw new PeerException(1, $"{Command}: --key JWK is required");
        return new LocalResolver(files.Select(LocalKey.FromFile).ToList());
    }
    public static string ConnectionString() =>
        Environment.GetEnvironmentVariable("AZURE_STORAGE_CONNECTION_STRING") is { Length: > 0 } cs ? cs
        : throw new PeerException(1, "AZURE_STORAGE_CONNECTION_STRING is not set");
}

public static class Program
{
    public const string Usage = """
dotnet-peer: the official .NET Azure Storage client-side encryption libraries as a command-line peer.
Connection string from AZURE_STORAGE_CONNECTION_STRING. Keys are JWK files (azcse key generate); --key may
repeat on reads (a resolver over all of them, by kid). put commands create their container/queue/table.

  run blob-put  --container C --blob B --in FILE --protocol 1.0|2.0 [--library v12|legacy] --key JWK
                [--blob-type block|page (legacy)] [--block-size N (v12: staged upload in N-byte blocks)]
  run blob-get  --container C --blob B --out FILE --key JWK... [--offset N --count N] [--library v12|legacy]
  run queue-put --queue Q --in FILE --protocol 1.0|2.0 [--encoding base64|none] [--library v12|legacy] --key JWK
  run queue-get --queue Q --out FILE --key JWK... [--encoding base64|none] [--library v12|legacy]
  run table-put --table T --in ENTITY.json --encrypt NAME[,NAME...] --key JWK       (legacy library)
  run table-get --table T --pk P --rk R --out ENTITY.json --key JWK...              (legacy library)
  run batch     one command per stdin line (a JSON array of arguments); one JSON result line each:
                {"exit": N, "result": {...} | null, "error": "..." | null}
  run --help

Default library v12 (Azure.Storage.Blobs 12.30.1 / Azure.Storage.Queues 12.28.1); legacy is
WindowsAzure.Storage 9.3.3 (protocol 1.0 only). ENTITY.json is OData JSON (values plus NAME@odata.type).
Exit codes: 0 ok (one JSON line on stdout), 1 usage or "this library cannot do that" (one line on stderr),
2 decryption/encryption failure, 3 not found, 4 service error.
""";

    public static int Main(string[] argv)
    {
        if (argv.Length == 0 || argv[0] is "--help" or "-h" or "help")
        {
            Console.Out.Write(Usage);
            return argv.Length == 0 ? 1 : 0;
        }
        if (argv[0] == "batch") return Batch();
        var (code, result, error) = RunOne(argv);
        if (code == 0) Console.Out.WriteLine(result!.ToJsonString());
        else Console.Error.WriteLine($"dotnet-peer: {error}");
        return code;
    }

    private static int Batch()
    {
        string? line;
        while ((line = Console.In.ReadLine()) != null)
        {
            if (line.Trim().Length == 0) continue;
            string[] argv;
            try { argv = JsonSerializer.Deserialize<string[]>(line) ?? []; }
            catch (JsonException) { argv = []; }
            var (code, result, error) = argv.Length == 0 ? (1, null, "batch: each line must be a JSON array of strings") : RunOne(argv);
            var o = new JsonObject { ["exit"] = code, ["result"] = result, ["error"] = error };
            Console.Out.WriteLine(o.ToJsonString());
            Console.Out.Flush();
        }
        return 0;
    }

    public static (int, JsonObject?, string?) RunOne(string[] argv)
    {
        try
        {
            var r = argv[0] switch
            {
                "blob-put" => Commands.BlobPut(argv),
                "blob-get" => Commands.BlobGet(argv),
                "queue-put" => Commands.QueuePut(argv),
                "queue-get" => Commands.QueueGet(argv),
                "table-put" => Commands.TablePut(argv),
                "table-get" => Commands.TableGet(argv),
                _ => throw new PeerException(1, $"unknown command {argv[0]} (run --help)"),
            };
            return (0, r, null);
        }
        catch (Exception e)
        {
            var (code, msg) = Classify(e);
            return (code, null, msg.ReplaceLineEndings(" "));
        }
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x != null; x = x.InnerException)
        {
            yield return x;
            if (x is AggregateException ag) foreach (var i in ag.InnerExceptions) foreach (var y in Chain(i)) yield return y;
        }
    }

    /// <summary>Maps any exception to the contract's exit codes; the message names the innermost cause.</summary>
    public static (int, string) Classify(Exception e)
    {
        var all = Chain(e).ToList();
        string Describe() => string.Join(" <- ", all.Select(x => $"{x.GetType().Name}: {x.Message}").Distinct().Take(3));
        if (all.OfType<PeerException>().FirstOrDefault() is PeerException pe) return (pe.Code, pe.Message);
        if (all.OfType<Azure.RequestFailedException>().FirstOrDefault() is { } rf)
        {
            if (EmulatorCannotServe(rf.Status, rf.ErrorCode, rf.Message)) return (1, $"the emulator cannot serve this request ({rf.Status} {rf.ErrorCode}): {FirstLine(rf.Message)}");
            return (rf.Status == 404 ? 3 : 4, $"service error {rf.Status} {rf.ErrorCode}: {FirstLine(rf.Message)}");
        }
        if (all.OfType<Microsoft.WindowsAzure.Storage.StorageException>().FirstOrDefault() is { } se)
        {
            int status = se.RequestInformation?.HttpStatusCode ?? 0;
            if (status == 404) return (3, $"not found (404 {se.RequestInformation?.ErrorCode})");
            if (EmulatorCannotServe(status, se.RequestInformation?.ErrorCode, se.Message)) return (1, $"the emulator cannot serve this request ({status} {se.RequestInformation?.ErrorCode}): {FirstLine(se.Message)}");
            bool crypto = all.Any(x => x is CryptographicException) || all.Any(x => x.Message.Contains("ecrypt") || x.Message.Contains("ncrypt") || x.Message.Contains("key", StringComparison.OrdinalIgnoreCase));
            if (crypto && (status == 0 || status == 200 || status == 201 || status == 204 || status == 206 || status == 306)) return (2, Describe());
            return (4, $"service error {status}: {Describe()}");
        }
        if (all.Any(x => x is CryptographicException)) return (2, Describe());
        if (all.Any(x => x is HttpRequestException)) return (4, Describe());
        // The library refusing a request before any I/O (e.g. legacy: "Encrypted Messages cannot be larger than
        // 65536 bytes") is "this library cannot do that".
        if (all[0] is ArgumentException ae && all.Count == 1) return (1, $"the library refuses this: {ae.Message}");
        if (all.Any(x => x is InvalidOperationException or ArgumentException or FormatException or JsonException or NullReferenceException or KeyNotFoundException))
            return (2, Describe());
        return (4, Describe());
    }

    /// <summary>
    /// A request the emulator (Azurite) refuses as unsupported — not implemented, or an API version it does not
    /// accept — is "this cannot be done here" (exit 1), not a service failure of the operation (exit 4).
    /// </summary>
    private static bool EmulatorCannotServe(int status, string? errorCode, string message) =>
        status == 501 || errorCode is "NotImplemented" or "InvalidApiVersion" || (errorCode == "InvalidHeaderValue" && message.Contains("x-ms-version", StringComparison.OrdinalIgnoreCase));

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();
}
