// A C# client written on the generated file alone (its Client over TcpClient and its
// TcpMessage framing): says its hello (version 1.0.0 and a messages hash), reads the
// server's, then sends each message of the sizes given, as connhandler writes them and as
// the reference writer does (exact multiples with a 0 chunk), and checks each echo. The
// same as generated_client.py and generated_client.mjs, for the C# file.
//
//     mono client.exe HOST PORT HASH SIZE...
//
// HASH is `ours` (the hello leaves its hash out: the file's own) or 16 hex digits. Prints
// `hello HASH` with the hash the server's hello says, `ok SIZE` per echo, and `closed` when
// the server closes the connection instead of answering.
using System;
using System.Net.Sockets;
using ConformanceProtocol;

static class GeneratedClient
{
    static int Main(string[] args)
    {
        using (var client = Client.Connect(args[0], int.Parse(args[1])))
        {
            client.ReceiveTimeout = 30000;
            client.Send(new Every.Hello("1.0.0", args[2] == "ours" ? (ulong?)null : Convert.ToUInt64(args[2], 16)));
            var hello = client.Receive() as Every.Hello;
            if (hello == null)
            {
                Console.Error.WriteLine("the server's first message is not its hello");
                return 1;
            }
            Console.WriteLine("hello " + hello.Protocol.ToString("x16"));
            bool closed = false;
            for (int k = 3; k < args.Length && !closed; k++)
            {
                int size = int.Parse(args[k]);
                foreach (bool explicitFinal in new[] { true, false })
                {
                    var message = new Every.Texts("", new string('x', size), new byte[0], new byte[0], explicitFinal);
                    byte[] body = message.Encode();
                    // As connhandler frames it, then as the reference writer does.
                    client.SendFramed(Framing.TcpMessageFrame(body, ProtocolInfo.MaxMessageSize, explicitFinal));
                    Every back;
                    try { back = client.Receive(); }
                    catch (System.IO.IOException) { back = null; }
                    if (back == null) { closed = true; break; }
                    if (Convert.ToBase64String(back.Encode()) != Convert.ToBase64String(body))
                    {
                        Console.Error.WriteLine("size " + size + ": the echo differs");
                        return 1;
                    }
                }
                if (!closed) Console.WriteLine("ok " + size);
            }
            if (closed || args.Length == 3)
            {
                Every back = null;
                if (!closed)
                {
                    try { back = client.Receive(); }
                    catch (System.IO.IOException) { back = null; }
                }
                Console.WriteLine(back == null ? "closed" : "more: " + back.Kind);
            }
        }
        return 0;
    }
}
