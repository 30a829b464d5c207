// ENTITY.json <-> DynamicTableEntity. The file is the OData JSON `azcse table put` takes: values plus
// `NAME@odata.type` annotations (Edm.Int64, Edm.DateTime, Edm.Guid, Edm.Binary, Edm.Double); un-annotated
// strings are Edm.String, integers Edm.Int32 (Edm.Int64 outside its range), other numbers Edm.Double, booleans Edm.Boolean.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.WindowsAzure.Storage.Table;

namespace DotnetPeer;

public static class EntityJson
{
    public static DynamicTableEntity Read(string path)
    {
        if (!File.Exists(path)) throw new PeerException(3, $"input file not found: {path}");
        JsonObject o;
        try { o = JsonNode.Parse(File.ReadAllText(path))!.AsObject(); }
        catch (Exception) { throw new PeerException(1, $"{path} must hold one JSON object (an entity)"); }
        var pk = (string?)o["PartitionKey"];
        var rk = (string?)o["RowKey"];
        if (pk == null || rk == null) throw new PeerException(1, $"{path} needs string PartitionKey and RowKey");
        var e = new DynamicTableEntity(pk, rk);
        foreach (var (name, node) in o)
        {
            if (name is "PartitionKey" or "RowKey" or "Timestamp" || name.Contains('@') || name.StartsWith("odata.")) continue;
            var type = (string?)o[name + "@odata.type"];
            e.Properties[name] = Property(name, type, node);
        }
        return e;
    }

    private static EntityProperty Property(string name, string? type, JsonNode? node)
    {
        string S() => node?.GetValueKind() == JsonValueKind.String ? (string)node! : node?.ToJsonString() ?? throw new PeerException(1, $"{name} is null");
        switch (type)
        {
            case "Edm.String": return new EntityProperty(S());
            case "Edm.Int32": return new EntityProperty(int.Parse(S(), CultureInfo.InvariantCulture));
            case "Edm.Int64": return new EntityProperty(long.Parse(S(), CultureInfo.InvariantCulture));
            case "Edm.Double": return new EntityProperty(double.Parse(S(), CultureInfo.InvariantCulture));
            case "Edm.Boolean": return new EntityProperty(node!.GetValue<bool>());
            case "Edm.DateTime": return new EntityProperty(DateTimeOffset.Parse(S(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal));
            case "Edm.Guid": return new EntityProperty(Guid.Parse(S()));
            case "Edm.Binary": return new EntityProperty(Convert.FromBase64String(S()));
            case null: break;
            default: throw new PeerException(1, $"{name}: unsupported type {type}");
        }
        switch (node?.GetValueKind())
        {
            case JsonValueKind.String: return new EntityProperty((string)node!);
            case JsonValueKind.True: return new EntityProperty(true);
            case JsonValueKind.False: return new EntityProperty(false);
            case JsonValueKind.Number:
                var raw = node!.ToJsonString();
                if (int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return new EntityProperty(i);
                if (long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return new EntityProperty(l);
                return new EntityProperty(double.Parse(raw, CultureInfo.InvariantCulture));
            default: throw new PeerException(1, $"{name}: unsupported JSON value");
        }
    }

    public static JsonObject Write(DynamicTableEntity e)
    {
        var o = new JsonObject { ["PartitionKey"] = e.PartitionKey, ["RowKey"] = e.RowKey };
        foreach (var (name, p) in e.Properties.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            switch (p.PropertyType)
            {
                case EdmType.String: o[name] = p.StringValue; break;
                case EdmType.Int32: o[name] = p.Int32Value; break;
                case EdmType.Int64: o[name] = p.Int64Value?.ToString(CultureInfo.InvariantCulture); o[name + "@odata.type"] = "Edm.Int64"; break;
                case EdmType.Double:
                    var d = p.DoubleValue!.Value;
                    if (double.IsFinite(d)) o[name] = d; else o[name] = d.ToString(CultureInfo.InvariantCulture) switch { "∞" => "Infinity", "-∞" => "-Infinity", var s => s };
                    o[name + "@odata.type"] = "Edm.Double"; break;
                case EdmType.Boolean: o[name] = p.BooleanValue; break;
                case EdmType.DateTime: o[name] = p.DateTimeOffsetValue?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture); o[name + "@odata.type"] = "Edm.DateTime"; break;
                case EdmType.Guid: o[name] = p.GuidValue?.ToString(); o[name + "@odata.type"] = "Edm.Guid"; break;
                case EdmType.Binary: o[name] = p.BinaryValue == null ? null : Convert.ToBase64String(p.BinaryValue); o[name + "@odata.type"] = "Edm.Binary"; break;
            }
        }
        return o;
    }
}
