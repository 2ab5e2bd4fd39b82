    // ---- The runtime: the same in every file this generator writes. ----

    /// <summary>A message that does not decode: the message's id (null when the id itself
    /// could not be read), the field ("Type.field") and why.</summary>
    public sealed class DecodeException : Exception
    {
        public readonly ulong? MessageId;
        public readonly string Field;
        public readonly string Reason;

        public DecodeException(ulong? messageId, string field, string reason)
            : base((messageId == null ? "message" : "message 0x" + messageId.Value.ToString("x")) + ", " + field + ": " + reason)
        {
            MessageId = messageId;
            Field = field;
            Reason = reason;
        }
    }

    /// <summary>A value the protocol cannot carry: a number out of range, a length over its
    /// prefix, a null where a value must be, a string that is not well-formed UTF-16.</summary>
    public sealed class EncodeException : Exception
    {
        public EncodeException(string message) : base(message) { }
    }

    /// <summary>Bytes that break the framing's rules.</summary>
    public sealed class FramingException : Exception
    {
        public FramingException(string message) : base(message) { }
    }

    /// <summary>What every generated message has.</summary>
    public interface IMessage
    {
        /// <summary>The message's bytes (no framing).</summary>
        byte[] Encode();
        void Write(Writer w);
    }

    /// <summary>Codecs of the types the protocol leaves to its user (hand-written
    /// <c>Wire</c> impls and <c>with</c> codecs on the Rust side).</summary>
    public interface IOpaqueCodec
    {
        void Write(Writer w, object value, string field);
        object Read(Reader r, string field);
    }

    public static class Opaque
    {
        /// <summary>The codecs, by the name the protocol gives them.</summary>
        public static readonly Dictionary<string, IOpaqueCodec> Codecs = new Dictionary<string, IOpaqueCodec>();

        internal static IOpaqueCodec Get(string name, string field)
        {
            IOpaqueCodec codec;
            if (!Codecs.TryGetValue(name, out codec))
                throw new EncodeException(field + ": no codec for " + name + " in Opaque.Codecs (the Rust side's own)");
            return codec;
        }
    }

    /// <summary>Reads a message's fields in order, each read naming its field in its errors.</summary>
    public sealed class Reader
    {
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);
        public readonly byte[] Data;
        public int Pos;
        public readonly int End;
        /// <summary>The id of the message being read, once known (for errors).</summary>
        public ulong? MessageId;

        public Reader(byte[] data)
        {
            if (data == null) throw new ArgumentNullException("data");
            Data = data;
            Pos = 0;
            End = data.Length;
        }

        public Exception Fail(string field, string reason)
        {
            return new DecodeException(MessageId, field, reason);
        }

        /// <summary>The position of the next n bytes, which are then read.</summary>
        public int Need(int n, string field)
        {
            int p = Pos;
            if (n > End - p) throw Fail(field, n + " bytes needed, " + (End - p) + " left");
            Pos = p + n;
            return p;
        }

        ulong Raw(int n, bool le, string field)
        {
            int p = Need(n, field);
            ulong v = 0;
            if (le) for (int i = n - 1; i >= 0; i--) v = (v << 8) | Data[p + i];
            else for (int i = 0; i < n; i++) v = (v << 8) | Data[p + i];
            return v;
        }

        public byte U8(string field) { return Data[Need(1, field)]; }
        public sbyte I8(string field) { return (sbyte)Data[Need(1, field)]; }
        public ushort U16(bool le, string field) { return (ushort)Raw(2, le, field); }
        public short I16(bool le, string field) { return (short)Raw(2, le, field); }
        public uint U32(bool le, string field) { return (uint)Raw(4, le, field); }
        public int I32(bool le, string field) { return (int)Raw(4, le, field); }
        public ulong U64(bool le, string field) { return Raw(8, le, field); }
        public long I64(bool le, string field) { return (long)Raw(8, le, field); }
        public BigInteger U128(bool le, string field)
        {
            ulong a = Raw(8, le, field), b = Raw(8, le, field);
            ulong high = le ? b : a, low = le ? a : b;
            return (new BigInteger(high) << 64) | new BigInteger(low);
        }
        public BigInteger I128(bool le, string field)
        {
            BigInteger v = U128(le, field);
            return v >= (BigInteger.One << 127) ? v - (BigInteger.One << 128) : v;
        }
        public float F32(bool le, string field) { return BitConverter.ToSingle(BitConverter.GetBytes((uint)Raw(4, le, field)), 0); }
        public double F64(bool le, string field) { return BitConverter.Int64BitsToDouble((long)Raw(8, le, field)); }

        public bool Bool(string field)
        {
            byte b = Data[Need(1, field)];
            if (b > 1) throw Fail(field, "invalid bool " + b);
            return b == 1;
        }

        /// <summary>An option's tag: whether a value follows.</summary>
        public bool Tag(string field)
        {
            byte b = Data[Need(1, field)];
            if (b > 1) throw Fail(field, "invalid option tag " + b);
            return b == 1;
        }

        /// <summary>A length or count prefix, checked against what the bytes left can hold
        /// (items of at least minLen bytes), so nothing is allocated that a peer merely claims.</summary>
        public int Count(int width, bool le, int minLen, string field)
        {
            ulong n = Raw(width, le, field);
            long left = End - Pos;
            if (n > (ulong)left || (long)n * Math.Max(minLen, 1) > left)
                throw Fail(field, "length " + n + " is more than the " + left + " bytes left can hold");
            return (int)n;
        }

        public byte[] Take(int n, string field)
        {
            int p = Need(n, field);
            byte[] out_ = new byte[n];
            Buffer.BlockCopy(Data, p, out_, 0, n);
            return out_;
        }

        public byte[] Bytes(int width, bool le, string field) { return Take(Count(width, le, 1, field), field); }

        public string Text(int width, bool le, string field)
        {
            int n = Count(width, le, 1, field);
            return Utf8Text(Need(n, field), n, field);
        }

        public string Utf8Text(int p, int n, string field)
        {
            try { return Utf8.GetString(Data, p, n); }
            catch (DecoderFallbackException) { throw Fail(field, "invalid UTF-8"); }
        }

        public byte[] Rest() { return Take(End - Pos, "rest"); }

        public string RestText(string field)
        {
            int n = End - Pos;
            return Utf8Text(Need(n, field), n, field);
        }

        public int Left() { return End - Pos; }

        public void Finish()
        {
            if (Pos != End) throw Fail("message", (End - Pos) + " trailing bytes after the message");
        }
    }

    /// <summary>Writes a message's fields in order.</summary>
    public sealed class Writer
    {
        static readonly UTF8Encoding Utf8 = new UTF8Encoding(false, true);
        public byte[] Buf = new byte[256];
        public int Pos;

        /// <summary>The position of n bytes more (read Buf after it: it may grow).</summary>
        public int Room(int n)
        {
            int p = Pos;
            if (n > Buf.Length - p)
            {
                byte[] bigger = new byte[Math.Max(Buf.Length * 2, p + n)];
                Buffer.BlockCopy(Buf, 0, bigger, 0, p);
                Buf = bigger;
            }
            Pos = p + n;
            return p;
        }

        public byte[] Done()
        {
            byte[] out_ = new byte[Pos];
            Buffer.BlockCopy(Buf, 0, out_, 0, Pos);
            return out_;
        }

        void Raw(ulong v, int n, bool le)
        {
            int p = Room(n);
            if (le) for (int i = 0; i < n; i++) { Buf[p + i] = (byte)v; v >>= 8; }
            else for (int i = n - 1; i >= 0; i--) { Buf[p + i] = (byte)v; v >>= 8; }
        }

        public void U8(byte v, string field) { int p = Room(1); Buf[p] = v; }
        public void I8(sbyte v, string field) { int p = Room(1); Buf[p] = (byte)v; }
        public void U16(ushort v, bool le, string field) { Raw(v, 2, le); }
        public void I16(short v, bool le, string field) { Raw((ulong)(ushort)v, 2, le); }
        public void U32(uint v, bool le, string field) { Raw(v, 4, le); }
        public void I32(int v, bool le, string field) { Raw((ulong)(uint)v, 4, le); }
        public void U64(ulong v, bool le, string field) { Raw(v, 8, le); }
        public void I64(long v, bool le, string field) { Raw((ulong)v, 8, le); }
        public void U128(BigInteger v, bool le, string field)
        {
            if (v.Sign < 0 || v >= (BigInteger.One << 128)) throw new EncodeException(field + ": " + v + " is not a u128");
            Put128(v, le);
        }
        public void I128(BigInteger v, bool le, string field)
        {
            if (v < -(BigInteger.One << 127) || v >= (BigInteger.One << 127)) throw new EncodeException(field + ": " + v + " is not an i128");
            Put128(v.Sign < 0 ? v + (BigInteger.One << 128) : v, le);
        }
        void Put128(BigInteger v, bool le)
        {
            BigInteger mask = (BigInteger.One << 64) - 1;
            ulong low = (ulong)(v & mask), high = (ulong)(v >> 64);
            Raw(le ? low : high, 8, le);
            Raw(le ? high : low, 8, le);
        }
        public void F32(float v, bool le, string field) { Raw(BitConverter.ToUInt32(BitConverter.GetBytes(v), 0), 4, le); }
        public void F64(double v, bool le, string field) { Raw((ulong)BitConverter.DoubleToInt64Bits(v), 8, le); }
        public void Bool(bool v, string field) { int p = Room(1); Buf[p] = (byte)(v ? 1 : 0); }
        public void Tag(bool some) { int p = Room(1); Buf[p] = (byte)(some ? 1 : 0); }

        public void Count(long n, int width, bool le, string field)
        {
            if (width < 8 && n >= (1L << (8 * width)))
                throw new EncodeException(field + ": length " + n + " does not fit a " + width + "-byte prefix");
            Raw((ulong)n, width, le);
        }

        public T NotNull<T>(T v, string field) where T : class
        {
            if (v == null) throw new EncodeException(field + ": null is not a value");
            return v;
        }

        public void RawBytes(byte[] v, string field, int n = -1)
        {
            NotNull(v, field);
            if (n >= 0 && v.Length != n) throw new EncodeException(field + ": " + v.Length + " bytes, not " + n);
            int p = Room(v.Length);
            Buffer.BlockCopy(v, 0, Buf, p, v.Length);
        }

        public void Bytes(byte[] v, int width, bool le, string field)
        {
            NotNull(v, field);
            Count(v.Length, width, le, field);
            int p = Room(v.Length);
            Buffer.BlockCopy(v, 0, Buf, p, v.Length);
        }

        /// <summary>UTF-8 text after a length prefix (width 0: none, the rest of the message).</summary>
        public void Text(string v, int width, bool le, string field)
        {
            NotNull(v, field);
            byte[] bytes;
            try { bytes = Utf8.GetBytes(v); }
            catch (EncoderFallbackException) { throw new EncodeException(field + ": not well-formed UTF-16 (a lone surrogate)"); }
            if (width > 0) Count(bytes.Length, width, le, field);
            int p = Room(bytes.Length);
            Buffer.BlockCopy(bytes, 0, Buf, p, bytes.Length);
        }

        /// <summary>Exactly n items.</summary>
        public T[] Exactly<T>(T[] v, int n, string field)
        {
            NotNull(v, field);
            if (v.Length != n) throw new EncodeException(field + ": " + v.Length + " items, not " + n);
            return v;
        }
    }

    static class Whole
    {
        internal static T Decode<T>(byte[] data, Func<Reader, T> read)
        {
            Reader r = new Reader(data);
            T value = read(r);
            r.Finish();
            return value;
        }

        // One writer per thread, reused (a fresh one while it is busy: a hook that encodes).
        [ThreadStatic] static Writer shared;

        internal static byte[] Encode(IMessage message)
        {
            Writer w = shared ?? new Writer();
            shared = null;
            w.Pos = 0;
            try
            {
                message.Write(w);
                return w.Done();
            }
            finally
            {
                if (w.Buf.Length <= 65536) shared = w;
            }
        }
    }

    /// <summary>JSON bodies as serde_json writes and reads them (a small reader and writer of
    /// the base class library alone).</summary>
    public static class Json
    {
        public static string Quote(string s)
        {
            StringBuilder b = new StringBuilder(s.Length + 2);
            b.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    case '\b': b.Append("\\b"); break;
                    case '\f': b.Append("\\f"); break;
                    default:
                        if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4"));
                        else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }

        /// <summary>A JSON value: a Dictionary, a List, a string, a long or double, a bool, or null.</summary>
        public static object Parse(string text)
        {
            int at = 0;
            object v = Value(text, ref at);
            Space(text, ref at);
            if (at != text.Length) throw new FormatException("trailing characters at " + at);
            return v;
        }

        static void Space(string t, ref int at)
        {
            while (at < t.Length && (t[at] == ' ' || t[at] == '\t' || t[at] == '\n' || t[at] == '\r')) at++;
        }

        static object Value(string t, ref int at)
        {
            Space(t, ref at);
            if (at >= t.Length) throw new FormatException("unexpected end");
            char c = t[at];
            if (c == '{')
            {
                var o = new Dictionary<string, object>();
                at++;
                Space(t, ref at);
                if (at < t.Length && t[at] == '}') { at++; return o; }
                while (true)
                {
                    Space(t, ref at);
                    if (at >= t.Length || t[at] != '"') throw new FormatException("a key expected at " + at);
                    string key = Str(t, ref at);
                    Space(t, ref at);
                    if (at >= t.Length || t[at] != ':') throw new FormatException("':' expected at " + at);
                    at++;
                    o[key] = Value(t, ref at);
                    Space(t, ref at);
                    if (at < t.Length && t[at] == ',') { at++; continue; }
                    if (at < t.Length && t[at] == '}') { at++; return o; }
                    throw new FormatException("',' or '}' expected at " + at);
                }
            }
            if (c == '[')
            {
                var l = new List<object>();
                at++;
                Space(t, ref at);
                if (at < t.Length && t[at] == ']') { at++; return l; }
                while (true)
                {
                    l.Add(Value(t, ref at));
                    Space(t, ref at);
                    if (at < t.Length && t[at] == ',') { at++; continue; }
                    if (at < t.Length && t[at] == ']') { at++; return l; }
                    throw new FormatException("',' or ']' expected at " + at);
                }
            }
            if (c == '"') return Str(t, ref at);
            if (t.Length - at >= 4 && string.CompareOrdinal(t, at, "true", 0, 4) == 0) { at += 4; return true; }
            if (t.Length - at >= 5 && string.CompareOrdinal(t, at, "false", 0, 5) == 0) { at += 5; return false; }
            if (t.Length - at >= 4 && string.CompareOrdinal(t, at, "null", 0, 4) == 0) { at += 4; return null; }
            int start = at;
            while (at < t.Length && "+-0123456789.eE".IndexOf(t[at]) >= 0) at++;
            string num = t.Substring(start, at - start);
            long whole;
            if (long.TryParse(num, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out whole)) return whole;
            double d;
            if (double.TryParse(num, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out d)) return d;
            throw new FormatException("a value expected at " + start);
        }

        static string Str(string t, ref int at)
        {
            StringBuilder b = new StringBuilder();
            at++;
            while (true)
            {
                if (at >= t.Length) throw new FormatException("unterminated string");
                char c = t[at++];
                if (c == '"') return b.ToString();
                if (c < 0x20) throw new FormatException("a control character in a string");
                if (c != '\\') { b.Append(c); continue; }
                if (at >= t.Length) throw new FormatException("unterminated escape");
                char e = t[at++];
                switch (e)
                {
                    case '"': b.Append('"'); break;
                    case '\\': b.Append('\\'); break;
                    case '/': b.Append('/'); break;
                    case 'b': b.Append('\b'); break;
                    case 'f': b.Append('\f'); break;
                    case 'n': b.Append('\n'); break;
                    case 'r': b.Append('\r'); break;
                    case 't': b.Append('\t'); break;
                    case 'u':
                        if (at + 4 > t.Length) throw new FormatException("short \\u escape");
                        b.Append((char)Convert.ToInt32(t.Substring(at, 4), 16));
                        at += 4;
                        break;
                    default: throw new FormatException("bad escape \\" + e);
                }
            }
        }
    }

    /// <summary>Reading JSON values as a field's type (the generated code's).</summary>
    public static class JsonField
    {
        public static long Int(object j, long lo, long hi, Reader r, string field)
        {
            if (!(j is long) || (long)j < lo || (long)j > hi) throw r.Fail(field, Shown(j) + " is not an integer in " + lo + ".." + hi);
            return (long)j;
        }

        public static ulong UInt64(object j, Reader r, string field)
        {
            if (!(j is long) || (long)j < 0) throw r.Fail(field, Shown(j) + " is not a u64 (within 2^63 here)");
            return (ulong)(long)j;
        }

        public static double Float(object j, Reader r, string field)
        {
            if (j is long) return (long)j;
            if (j is double) return (double)j;
            throw r.Fail(field, Shown(j) + " is not a number");
        }

        public static bool Bool(object j, Reader r, string field)
        {
            if (!(j is bool)) throw r.Fail(field, Shown(j) + " is not a bool");
            return (bool)j;
        }

        public static string Str(object j, Reader r, string field)
        {
            if (!(j is string)) throw r.Fail(field, Shown(j) + " is not a string");
            return (string)j;
        }

        public static List<object> List(object j, Reader r, string field)
        {
            if (!(j is List<object>)) throw r.Fail(field, Shown(j) + " is not a list");
            return (List<object>)j;
        }

        public static object Get(Dictionary<string, object> o, string key, Reader r, string field)
        {
            object j;
            if (!o.TryGetValue(key, out j)) throw r.Fail(field, "missing");
            return j;
        }

        public static Dictionary<string, object> Object(string text, Reader r, string field)
        {
            object o;
            try { o = Json.Parse(text); }
            catch (FormatException e) { throw r.Fail(field, "invalid JSON: " + e.Message); }
            if (!(o is Dictionary<string, object>)) throw r.Fail(field, "not a JSON object");
            return (Dictionary<string, object>)o;
        }

        static string Shown(object j)
        {
            return j == null ? "null" : j is string ? Json.Quote((string)j) : j.ToString();
        }

        public static string Number(long v) { return v.ToString(System.Globalization.CultureInfo.InvariantCulture); }
        public static string Number(ulong v) { return v.ToString(System.Globalization.CultureInfo.InvariantCulture); }
        public static string Number(double v) { return v.ToString("R", System.Globalization.CultureInfo.InvariantCulture); }
    }
