#!/usr/bin/python3
"""A service manager's NOTIFY_SOCKET for tests: binds an AF_UNIX datagram
socket at PATH and appends every datagram received to LOG (one line per
assignment, datagrams separated by a line "--"). Runs until killed."""
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
with open(log, "a", buffering=1) as out:
    out.write("listening\n")
    while True:
        data = sock.recv(4096)
        out.write(data.decode("utf-8", "replace") + "\n--\n")
