    // ---- The framings, over byte arrays, and a TcpClient-based client. ----

    public static class Framing
    {
        /// <summary>The TcpMessage framing of one message: chunks of maxMessageSize bytes,
        /// each after a little-endian u16 of its length, 0 for a full chunk (a final full chunk
        /// says its length when explicitFinalChunk, as connhandler writes it; 0 as the
        /// reference writes it).</summary>
        public static byte[] TcpMessageFrame(byte[] body, int maxMessageSize = ProtocolInfo.MaxMessageSize, bool explicitFinalChunk = ProtocolInfo.ExplicitFinalChunk)
        {
            if (body == null || body.Length == 0) throw new EncodeException("an empty message cannot be framed");
            int n = body.Length;
            int chunks = (n + maxMessageSize - 1) / maxMessageSize;
            byte[] out_ = new byte[n + 2 * chunks];
            int at = 0;
            for (int start = 0; start < n; start += maxMessageSize)
            {
                int size = Math.Min(maxMessageSize, n - start);
                bool last = start + size == n;
                int header = size == maxMessageSize && !(last && explicitFinalChunk) ? 0 : size;
                out_[at] = (byte)header;
                out_[at + 1] = (byte)(header >> 8);
                Buffer.BlockCopy(body, start, out_, at + 2, size);
                at += 2 + size;
            }
            return out_;
        }

        /// <summary>Panda3D's framing of one datagram: a little-endian length of headerSize
        /// bytes (0: none), then the bytes.</summary>
        public static byte[] Panda3dFrame(byte[] body, int headerSize = ProtocolInfo.Panda3dHeaderSize)
        {
            if (headerSize == 0) return (byte[])body.Clone();
            if (headerSize != 2 && headerSize != 4) throw new EncodeException("a header of " + headerSize + " bytes");
            if (headerSize == 2 && body.Length > 0xffff)
                throw new EncodeException("a datagram of " + body.Length + " bytes does not fit a 2-byte header");
            byte[] out_ = new byte[headerSize + body.Length];
            for (int i = 0; i < headerSize; i++) out_[i] = (byte)(body.Length >> (8 * i));
            Buffer.BlockCopy(body, 0, out_, headerSize, body.Length);
            return out_;
        }
    }

    /// <summary>Bytes as they arrive, kept until they are used.</summary>
    sealed class Pending
    {
        byte[] buf = new byte[4096];
        int start, end;

        public void Push(byte[] data, int offset, int count)
        {
            if (count > buf.Length - end)
            {
                int held = end - start;
                byte[] next = held + count > buf.Length ? new byte[2 * (held + count)] : buf;
                Buffer.BlockCopy(buf, start, next, 0, held);
                buf = next;
                start = 0;
                end = held;
            }
            Buffer.BlockCopy(data, offset, buf, end, count);
            end += count;
        }

        public int Length { get { return end - start; } }
        public byte this[int i] { get { return buf[start + i]; } }

        public byte[] Take(int skip, int n)
        {
            byte[] out_ = new byte[n];
            Buffer.BlockCopy(buf, start + skip, out_, 0, n);
            start += skip + n;
            if (start == end) { start = 0; end = 0; }
            return out_;
        }
    }

    /// <summary>Reassembles TcpMessage messages from bytes as they arrive: Feed returns the
    /// messages completed. A message that ends on a full chunk marked 0 (the reference
    /// writer's exact multiples) ends where its bytes decode as a whole message (the
    /// <c>whole</c> test), or at Flush (when no more bytes come for a while).</summary>
    public sealed class TcpMessageReader
    {
        readonly int max, maxFrame;
        readonly Func<byte[], bool> whole;
        readonly Pending pending = new Pending();
        readonly List<byte[]> parts = new List<byte[]>();
        int partsLength;
        bool open;

        public TcpMessageReader(Func<byte[], bool> whole = null, int maxMessageSize = ProtocolInfo.MaxMessageSize, int maxFrameLength = 8 << 20)
        {
            this.whole = whole;
            max = maxMessageSize;
            maxFrame = maxFrameLength;
        }

        public List<byte[]> Feed(byte[] data, int offset, int count)
        {
            pending.Push(data, offset, count);
            var out_ = new List<byte[]>();
            while (true)
            {
                if (pending.Length < 2) return out_;
                int header = pending[0] | (pending[1] << 8);
                if (header > max) throw new FramingException("chunk length " + header + " exceeds max_message_size " + max);
                int size = header == 0 ? max : header;
                if (pending.Length < 2 + size) return out_;
                if (partsLength + size > maxFrame) throw new FramingException("message longer than " + maxFrame + " bytes");
                parts.Add(pending.Take(2, size));
                partsLength += size;
                if (header == 0 && !(whole != null && whole(Joined())))
                {
                    open = true;
                    continue;
                }
                out_.Add(Joined());
                parts.Clear();
                partsLength = 0;
                open = false;
            }
        }

        /// <summary>Ends a message left open on a full chunk marked 0 (after a pause).</summary>
        public List<byte[]> Flush()
        {
            var out_ = new List<byte[]>();
            if (open && partsLength > 0) out_.Add(Joined());
            parts.Clear();
            partsLength = 0;
            open = false;
            return out_;
        }

        byte[] Joined()
        {
            if (parts.Count == 1) return parts[0];
            byte[] all = new byte[partsLength];
            int at = 0;
            foreach (byte[] part in parts) { Buffer.BlockCopy(part, 0, all, at, part.Length); at += part.Length; }
            parts.Clear();
            parts.Add(all);
            return all;
        }
    }

    /// <summary>Cuts Panda3D datagrams from bytes as they arrive: Feed returns the datagrams
    /// completed.</summary>
    public sealed class Panda3dReader
    {
        readonly int size, maxFrame;
        readonly Pending pending = new Pending();

        public Panda3dReader(int headerSize = ProtocolInfo.Panda3dHeaderSize, int maxFrameLength = 8 << 20)
        {
            if (headerSize != 2 && headerSize != 4) throw new ArgumentException("a stream reader needs a 2- or 4-byte header");
            size = headerSize;
            maxFrame = maxFrameLength;
        }

        public List<byte[]> Feed(byte[] data, int offset, int count)
        {
            pending.Push(data, offset, count);
            var out_ = new List<byte[]>();
            while (pending.Length >= size)
            {
                long n = 0;
                for (int i = size - 1; i >= 0; i--) n = n * 256 + pending[i];
                if (n > maxFrame) throw new FramingException("datagram of " + n + " bytes exceeds " + maxFrame);
                if (pending.Length < size + n) break;
                out_.Add(pending.Take(size, (int)n));
            }
            return out_;
        }
    }
