#!/usr/bin/python3
"""A hostile SFTP server for parley_copy.py, run by a real sshd as its sftp subsystem
(stdin and stdout are the channel). It serves one directory, "dir", whose listing
names entries that would climb out of the client's target ("../escape", "a/b", "..")
next to "ok.txt", and answers every READ of ok.txt with one byte more than was asked.
A correct client skips the bad names, refuses the oversized DATA, and writes nothing
outside its target."""
import struct
import sys

VERSION, STATUS, HANDLE, DATA, NAME, ATTRS = 2, 101, 102, 103, 104, 105
DIR_MODE, FILE_MODE = 0o040755, 0o100644


def string(b):
    b = b if isinstance(b, bytes) else b.encode()
    return struct.pack(">I", len(b)) + b


def attrs(mode, size=0):
    return struct.pack(">IQI", 0x1 | 0x4, size, mode)


def send(kind, body):
    payload = bytes([kind]) + body
    sys.stdout.buffer.write(struct.pack(">I", len(payload)) + payload)
    sys.stdout.buffer.flush()


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = sys.stdin.buffer.read(n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data


def take_string(body, at):
    n = struct.unpack(">I", body[at:at + 4])[0]
    return body[at + 4:at + 4 + n], at + 4 + n


def main():
    listed = False
    while True:
        length = struct.unpack(">I", read_exact(4))[0]
        packet = read_exact(length)
        kind = packet[0]
        if kind == 1:  # INIT
            send(VERSION, struct.pack(">I", 3))
            continue
        rid = struct.pack(">I", struct.unpack(">I", packet[1:5])[0])
        body = packet[5:]
        if kind in (17, 7):  # STAT, LSTAT
            path, _ = take_string(body, 0)
            mode = DIR_MODE if path.rstrip(b"/").endswith(b"dir") else FILE_MODE
            send(ATTRS, rid + attrs(mode, 5))
        elif kind in (3, 11):  # OPEN, OPENDIR
            send(HANDLE, rid + string("h"))
        elif kind == 8:  # FSTAT
            send(ATTRS, rid + attrs(FILE_MODE, 5))
        elif kind == 12:  # READDIR
            if listed:
                send(STATUS, rid + struct.pack(">I", 1) + string("eof") + string(""))
                continue
            listed = True
            names = [("../escape", FILE_MODE), ("a/b", FILE_MODE), ("..", DIR_MODE), ("ok.txt", FILE_MODE)]
            out = struct.pack(">I", len(names))
            for n, mode in names:
                out += string(n) + string(n) + attrs(mode, 5)
            send(NAME, rid + out)
        elif kind == 5:  # READ: one byte more than asked
            _, at = take_string(body, 0)
            want = struct.unpack(">I", body[at + 8:at + 12])[0]
            send(DATA, rid + string(b"x" * (want + 1)))
        else:  # CLOSE and the rest: OK
            send(STATUS, rid + struct.pack(">I", 0) + string("") + string(""))


if __name__ == "__main__":
    main()
