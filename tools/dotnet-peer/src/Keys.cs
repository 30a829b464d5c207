// Local key-encryption keys loaded from JWK files as `azcse key generate` writes them, exposed to the v12
// library (Azure.Core IKeyEncryptionKey / IKeyEncryptionKeyResolver) and to the legacy library
// (Microsoft.Azure.KeyVault.Core IKey / IKeyResolver). Key Vault is not available on the feed, so wrapping is
// done here: RFC 3394 AES key wrap (A128KW/A192KW/A256KW) and RSA-OAEP (SHA-1) / RSA-OAEP-256.
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Azure.Core.Cryptography;
using Microsoft.Azure.KeyVault.Core;

namespace DotnetPeer;

/// <summary>No key with the requested kid: a decryption failure (exit 2), as azcse reports it.</summary>
public sealed class KeyResolutionException(string message) : CryptographicException(message);

public sealed class LocalKey : IKeyEncryptionKey, IKey
{
    public string Kid { get; }
    public string Algorithm { get; }
    private readonly byte[]? _aes;
    private readonly RSA? _rsa;

    private LocalKey(string kid, string alg, byte[]? aes, RSA? rsa) { Kid = kid; Algorithm = alg; _aes = aes; _rsa = rsa; }

    public static LocalKey FromFile(string path)
    {
        if (!File.Exists(path)) throw new PeerException(3, $"key file not found: {path}");
        JsonObject jwk;
        try { jwk = JsonNode.Parse(File.ReadAllText(path))!.AsObject(); }
        catch (Exception) { throw new PeerException(1, $"{path} is not a JSON Web Key"); }
        string kid = (string?)jwk["kid"] ?? throw new PeerException(1, $"{path}: the JWK has no \"kid\"");
        string? alg = (string?)jwk["alg"];
        switch ((string?)jwk["kty"])
        {
            case "oct":
                var k = B64Url((string?)jwk["k"] ?? throw new PeerException(1, $"{path}: no \"k\""));
                string aesAlg = k.Length switch { 16 => "A128KW", 24 => "A192KW", 32 => "A256KW", _ => throw new PeerException(1, $"{path}: AES key must be 16, 24 or 32 bytes") };
                if (alg != null && alg != aesAlg) throw new PeerException(1, $"{path}: alg {alg} does not match a {k.Length * 8}-bit key");
                return new LocalKey(kid, aesAlg, k, null);
            case "RSA":
                var p = new RSAParameters
                {
                    Modulus = B64Url((string)jwk["n"]!), Exponent = B64Url((string)jwk["e"]!),
                    D = Opt(jwk, "d"), P = Opt(jwk, "p"), Q = Opt(jwk, "q"), DP = Opt(jwk, "dp"), DQ = Opt(jwk, "dq"), InverseQ = Opt(jwk, "qi"),
                };
                var rsa = RSA.Create();
                rsa.ImportParameters(p);
                alg ??= "RSA-OAEP";
                if (alg != "RSA-OAEP" && alg != "RSA-OAEP-256") throw new PeerException(1, $"{path}: RSA alg must be RSA-OAEP or RSA-OAEP-256");
                return new LocalKey(kid, alg, null, rsa);
            default:
                throw new PeerException(1, $"{path}: kty must be oct or RSA");
        }
    }

    private static byte[]? Opt(JsonObject o, string name) => o[name] is JsonNode n ? B64Url((string)n!) : null;
    private static byte[] B64Url(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s + new string('=', (4 - s.Length % 4) % 4));
    }

    public byte[] Wrap(string? algorithm, byte[] cek)
    {
        algorithm ??= Algorithm;
        if (_aes != null)
        {
            if (algorithm != Algorithm) throw new CryptographicException($"key {Kid} cannot wrap with {algorithm}");
            return AesKw.Wrap(_aes, cek);
        }
        return _rsa!.Encrypt(cek, Oaep(algorithm));
    }

    public byte[] Unwrap(string algorithm, byte[] wrapped)
    {
        if (_aes != null)
        {
            if (algorithm != Algorithm) throw new CryptographicException($"key {Kid} cannot unwrap {algorithm}");
            return AesKw.Unwrap(_aes, wrapped);
        }
        return _rsa!.Decrypt(wrapped, Oaep(algorithm));
    }

    private RSAEncryptionPadding Oaep(string algorithm) => algorithm switch
    {
        "RSA-OAEP" => RSAEncryptionPadding.OaepSHA1,
        "RSA-OAEP-256" => RSAEncryptionPadding.OaepSHA256,
        _ => throw new CryptographicException($"key {Kid} cannot use {algorithm}"),
    };

    // ---- Azure.Core (v12) ----
    string IKeyEncryptionKey.KeyId => Kid;
    public byte[] WrapKey(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) => Wrap(algorithm, key.ToArray());
    public Task<byte[]> WrapKeyAsync(string algorithm, ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) => Task.FromResult(Wrap(algorithm, key.ToArray()));
    public byte[] UnwrapKey(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) => Unwrap(algorithm, encryptedKey.ToArray());
    public Task<byte[]> UnwrapKeyAsync(string algorithm, ReadOnlyMemory<byte> encryptedKey, CancellationToken cancellationToken = default) => Task.FromResult(Unwrap(algorithm, encryptedKey.ToArray()));

    // ---- Microsoft.Azure.KeyVault.Core IKey (legacy WindowsAzure.Storage) ----
    public string DefaultEncryptionAlgorithm => throw new NotSupportedException();
    public string DefaultKeyWrapAlgorithm => Algorithm;
    public string DefaultSignatureAlgorithm => throw new NotSupportedException();
    public Task<byte[]> DecryptAsync(byte[] ciphertext, byte[] iv, byte[]? authenticationData = null, byte[]? authenticationTag = null, string? algorithm = null, CancellationToken token = default) => throw new NotSupportedException();
    public Task<Tuple<byte[], byte[], string>> EncryptAsync(byte[] plaintext, byte[] iv, byte[]? authenticationData = null, string? algorithm = null, CancellationToken token = default) => throw new NotSupportedException();
    public Task<Tuple<byte[], string>> WrapKeyAsync(byte[] key, string? algorithm = null, CancellationToken token = default) => Task.FromResult(Tuple.Create(Wrap(algorithm, key), algorithm ?? Algorithm));
    public Task<byte[]> UnwrapKeyAsync(byte[] encryptedKey, string algorithm, CancellationToken token = default) => Task.FromResult(Unwrap(algorithm, encryptedKey));
    public Task<Tuple<byte[], string>> SignAsync(byte[] digest, string algorithm, CancellationToken token = default) => throw new NotSupportedException();
    public Task<bool> VerifyAsync(byte[] digest, byte[] signature, string algorithm, CancellationToken token = default) => throw new NotSupportedException();
    public void Dispose() { }
}

/// <summary>All --key files; resolves by exact kid (also serves versioned Key Vault-style ids).</summary>
public sealed class LocalResolver(IReadOnlyList<LocalKey> keys) : IKeyEncryptionKeyResolver, IKeyResolver
{
    public IReadOnlyList<LocalKey> Keys => keys;
    public LocalKey Find(string kid) => keys.FirstOrDefault(k => k.Kid == kid) ?? throw new KeyResolutionException($"no --key has kid \"{kid}\"");
    public IKeyEncryptionKey Resolve(string keyId, CancellationToken cancellationToken = default) => Find(keyId);
    public Task<IKeyEncryptionKey> ResolveAsync(string keyId, CancellationToken cancellationToken = default) => Task.FromResult<IKeyEncryptionKey>(Find(keyId));
    public Task<IKey> ResolveKeyAsync(string kid, CancellationToken token) => Task.FromResult<IKey>(Find(kid));
}

/// <summary>RFC 3394 AES key wrap (default IV A6A6A6A6A6A6A6A6).</summary>
public static class AesKw
{
    private const ulong Iv = 0xA6A6A6A6A6A6A6A6UL;

    public static byte[] Wrap(byte[] kek, byte[] p)
    {
        if (p.Length % 8 != 0 || p.Length < 16) throw new CryptographicException("AES key wrap input must be a multiple of 8 bytes, at least 16");
        int n = p.Length / 8;
        using var aes = Aes.Create();
        aes.Key = kek;
        ulong a = Iv;
        var r = (byte[])p.Clone();
        var b = new byte[16];
        for (int j = 0; j < 6; j++)
            for (int i = 1; i <= n; i++)
            {
                WriteBe(b, 0, a);
                Buffer.BlockCopy(r, (i - 1) * 8, b, 8, 8);
                var e = aes.EncryptEcb(b, PaddingMode.None);
                a = ReadBe(e, 0) ^ (ulong)(n * j + i);
                Buffer.BlockCopy(e, 8, r, (i - 1) * 8, 8);
            }
        var c = new byte[p.Length + 8];
        WriteBe(c, 0, a);
        Buffer.BlockCopy(r, 0, c, 8, r.Length);
        return c;
    }

    public static byte[] Unwrap(byte[] kek, byte[] c)
    {
        if (c.Length % 8 != 0 || c.Length < 24) throw new CryptographicException("AES key unwrap failed");
        int n = c.Length / 8 - 1;
        using var aes = Aes.Create();
        aes.Key = kek;
        ulong a = ReadBe(c, 0);
        var r = new byte[n * 8];
        Buffer.BlockCopy(c, 8, r, 0, r.Length);
        var b = new byte[16];
        for (int j = 5; j >= 0; j--)
            for (int i = n; i >= 1; i--)
            {
                WriteBe(b, 0, a ^ (ulong)(n * j + i));
                Buffer.BlockCopy(r, (i - 1) * 8, b, 8, 8);
                var d = aes.DecryptEcb(b, PaddingMode.None);
                a = ReadBe(d, 0);
                Buffer.BlockCopy(d, 8, r, (i - 1) * 8, 8);
            }
        if (a != Iv) throw new CryptographicException("AES key unwrap failed (integrity check)");
        return r;
    }

    private static void WriteBe(byte[] buf, int off, ulong v) { for (int k = 7; k >= 0; k--) { buf[off + k] = (byte)v; v >>= 8; } }
    private static ulong ReadBe(byte[] buf, int off) { ulong v = 0; for (int k = 0; k < 8; k++) v = (v << 8) | buf[off + k]; return v; }
}
