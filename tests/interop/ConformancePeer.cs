// The C# side of the conformance harness (tests/conformance.rs), compiled with the generated
// file by Mono's mcs and run by mono: answers one line per request on stdin.
//
//     rt HEX   -> "ok HEX" (decoded and encoded again) | "err MESSAGE" (DecodeException)
//     fl HEX   -> the same, for float specials
//     mk SEED  -> "ok HEX" (a value made here, from SEED, encoded)
//     be N     -> "err MESSAGE" (EncodeException) for the Nth value the protocol cannot carry
//
// Anything else thrown is reported as "crash TYPE: MESSAGE", which the harness fails on.
using System;
using System.Collections.Generic;
using System.Numerics;
using System.Text;
using ConformanceProtocol;

sealed class Be16 : IOpaqueCodec
{
    public void Write(Writer w, object value, string field) { w.U16((ushort)value, false, field); }
    public object Read(Reader r, string field) { return r.U16(false, field); }
}

sealed class Rng
{
    ulong state;
    public Rng(ulong seed) { state = seed * 0x9e3779b97f4a7c15UL + 1; }
    public ulong Next()
    {
        state += 0x9e3779b97f4a7c15UL;
        ulong z = state;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
        return z ^ (z >> 31);
    }
    public int Below(int n) { return (int)(Next() % (ulong)n); }
    public int Int(int lo, int hi) { return lo + Below(hi - lo); }
    public bool Chance() { return Below(2) == 0; }
    public byte[] Bytes(int n) { var b = new byte[n]; for (int i = 0; i < n; i++) b[i] = (byte)Below(256); return b; }
    public BigInteger U128() { return (new BigInteger(Next()) << 64) | new BigInteger(Next()); }
}

static class Peer
{
    static string Hex(byte[] b)
    {
        var s = new StringBuilder(b.Length * 2);
        foreach (byte x in b) s.Append(x.ToString("x2"));
        return s.ToString();
    }

    static byte[] Unhex(string s)
    {
        var b = new byte[s.Length / 2];
        for (int i = 0; i < b.Length; i++) b[i] = Convert.ToByte(s.Substring(2 * i, 2), 16);
        return b;
    }

    static string Text(Rng rng)
    {
        switch (rng.Below(4))
        {
            case 0: return "";
            case 1:
                {
                    var s = new StringBuilder();
                    for (int n = rng.Int(1, 12); n > 0; n--) s.Append("abcxyz"[rng.Below(6)]);
                    return s.ToString();
                }
            case 2: return "héllo <wörld> ✓";
            default:
                {
                    var s = new StringBuilder();
                    if (rng.Below(4) == 0) s.Append('\ufeff');
                    for (int n = rng.Int(1, 6); n > 0; n--)
                    {
                        int pick = rng.Below(3);
                        int cp = pick == 0 ? rng.Int(0x20, 0x7f) : pick == 1 ? rng.Int(0xa0, 0xd7ff) : rng.Int(0x10000, 0x10ffff);
                        s.Append(char.ConvertFromUtf32(cp));
                    }
                    return s.ToString();
                }
        }
    }

    static float F32(Rng rng)
    {
        while (true)
        {
            float v = BitConverter.ToSingle(BitConverter.GetBytes((uint)rng.Next()), 0);
            if (!float.IsNaN(v) && !float.IsInfinity(v)) return v;
        }
    }

    static double F64(Rng rng)
    {
        while (true)
        {
            double v = BitConverter.Int64BitsToDouble((long)rng.Next());
            if (!double.IsNaN(v) && !double.IsInfinity(v)) return v;
        }
    }

    static Inner MakeInner(Rng rng) { return new Inner((ushort)rng.Below(1 << 16), Text(rng)); }

    static Nested MakeNested(Rng rng)
    {
        if (rng.Chance()) return new Nested.One((byte)rng.Below(256));
        return new Nested.Two((long)rng.Next(), MakeInner(rng));
    }

    static Every Make(int seed)
    {
        var rng = new Rng((ulong)seed);
        switch (seed % 13)
        {
            case 0:
                {
                    BigInteger j = rng.U128();
                    if (j >= (BigInteger.One << 127)) j -= BigInteger.One << 128;
                    return new Every.Ints((byte)rng.Below(256), (sbyte)rng.Int(-128, 128), (ushort)rng.Below(1 << 16),
                        (short)rng.Int(-(1 << 15), 1 << 15), (uint)rng.Next(), (int)rng.Next(), rng.Next(), (long)rng.Next(), rng.U128(), j);
                }
            case 1: return new Every.Floats(F32(rng), F64(rng), F32(rng), (uint)rng.Next());
            case 2: return new Every.Texts(Text(rng), Text(rng), rng.Bytes(rng.Below(20)), rng.Bytes(rng.Below(20)), rng.Chance());
            case 3:
                {
                    var items = new List<Inner>();
                    for (int n = rng.Below(4); n > 0; n--) items.Add(MakeInner(rng));
                    var small = new List<ushort>();
                    for (int n = rng.Below(6); n > 0; n--) small.Add((ushort)rng.Below(1 << 16));
                    var arr = new short[] { (short)rng.Int(-32768, 32768), (short)rng.Int(-32768, 32768), (short)rng.Int(-32768, 32768) };
                    return new Every.Seqs(items, small, rng.Chance() ? MakeInner(rng) : null, null, arr, rng.Bytes(4),
                        ValueTuple.Create((byte)rng.Below(256), Text(rng)), null);
                }
            case 4:
                {
                    var list = new List<Nested>();
                    var first = MakeNested(rng);
                    for (int n = rng.Below(3); n > 0; n--) list.Add(MakeNested(rng));
                    return new Every.Nest(first, list);
                }
            case 5: return new Every.Rest((uint)rng.Next(), Text(rng));
            case 6: return new Every.RestBytes(rng.Bytes(rng.Below(20)));
            case 7: return new Every.Empty();
            case 8: return new Every.Skipped((uint)rng.Next());
            case 9:
                {
                    var name = new StringBuilder();
                    for (int n = rng.Below(8); n > 0; n--) name.Append("ab c"[rng.Below(4)]);
                    var tags = new List<string>();
                    for (int n = rng.Below(3); n > 0; n--)
                    {
                        var t = new StringBuilder();
                        for (int k = rng.Below(4); k > 0; k--) t.Append("xyz"[rng.Below(3)]);
                        tags.Add(t.ToString());
                    }
                    return new Every.Json(new Profile(name.ToString(), (uint)rng.Next(), tags));
                }
            case 10: return new Every.Hooked((ushort)rng.Below(1 << 16), (byte)rng.Below(256));
            case 11: return new Every.Hello(Text(rng), rng.Chance() ? (ulong?)rng.Next() : null);
            default: return new Every.Unknown((byte)rng.Int(13, 256), rng.Bytes(rng.Below(10)));
        }
    }

    static Every.Texts Texts() { return new Every.Texts("a", "b", new byte[1], new byte[1], true); }
    static Every.Seqs Seqs() { return new Every.Seqs(new List<Inner>(), new List<ushort>(), null, null, new short[] { 1, 2, 3 }, new byte[4], ValueTuple.Create((byte)1, "x"), null); }

    // Values the protocol cannot carry: each must throw EncodeException naming the field.
    // (C#'s types rule out the rest of the list the other peers try: a number out of its
    // type's range or of the wrong kind does not compile.)
    static readonly KeyValuePair<string, Func<Every>>[] BadValues =
    {
        new KeyValuePair<string, Func<Every>>("Every.Texts.s", () => { var m = Texts(); m.S = "a\ud800b"; return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Texts.long", () => { var m = Texts(); m.Long = "\udc00" + new string('é', 70); return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Texts.b", () => { var m = Texts(); m.B = null; return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Texts.s", () => { var m = Texts(); m.S = null; return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Seqs.arr", () => { var m = Seqs(); m.Arr = new short[] { 1, 2 }; return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Seqs.items", () => { var m = Seqs(); m.Items = null; return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Seqs.small", () => { var m = Seqs(); for (int i = 0; i < 256; i++) m.Small.Add(1); return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Seqs.four", () => { var m = Seqs(); m.Four = new byte[3]; return m; }),
        new KeyValuePair<string, Func<Every>>("Every.Ints.i", () => new Every.Ints(1, 1, 1, 1, 1, 1, 1, 1, BigInteger.MinusOne, 1)),
        new KeyValuePair<string, Func<Every>>("Every.Ints.j", () => new Every.Ints(1, 1, 1, 1, 1, 1, 1, 1, 1, BigInteger.One << 127)),
        new KeyValuePair<string, Func<Every>>("Every.Nest.0", () => new Every.Nest(null, new List<Nested>())),
    };

    static string Answer(string line)
    {
        int space = line.IndexOf(' ');
        string op = line.Substring(0, space), arg = line.Substring(space + 1);
        try
        {
            if (op == "rt" || op == "fl")
            {
                byte[] data = Unhex(arg);
                Every message = Every.Decode(data);
                return "ok " + Hex(message.Encode());
            }
            if (op == "mk")
            {
                Every message = Make(int.Parse(arg));
                byte[] data = message.Encode();
                Every back = Every.Decode(data);
                if (back.Kind != message.Kind || Hex(back.Encode()) != Hex(data))
                    return "crash mismatch: " + message.Kind + " came back as " + Hex(back.Encode());
                return "ok " + Hex(data);
            }
            if (op == "be")
            {
                int k = int.Parse(arg);
                if (k >= BadValues.Length) return "crash no bad value " + k + " here";
                var bad = BadValues[k];
                try
                {
                    return "crash encoded " + Hex(bad.Value().Encode());
                }
                catch (EncodeException e)
                {
                    if (!e.Message.StartsWith(bad.Key + ":")) return "crash the EncodeException does not name " + bad.Key + ": " + e.Message;
                    return "err " + e.Message;
                }
            }
            return "crash unknown request " + line;
        }
        catch (DecodeException e)
        {
            return "err " + e.Message;
        }
        catch (Exception e)
        {
            return "crash " + e.GetType().Name + ": " + e.Message;
        }
    }

    static void Main()
    {
        Opaque.Codecs["be16"] = new Be16();
        var stdin = Console.In;
        var stdout = new System.IO.StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false));
        string line;
        while ((line = stdin.ReadLine()) != null)
        {
            stdout.Write(Answer(line));
            stdout.Write('\n');
            stdout.Flush();
        }
    }
}
