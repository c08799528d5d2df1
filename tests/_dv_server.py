"""An AEDAT4 network server for the live-source tests, run as a subprocess:

    python tests/_dv_server.py RECORDING.aedat4 PORT [--hold]

dv-processing's own NetworkWriter (dv_processing.io.NetworkWriter) on 127.0.0.1:PORT serves
the event batches of RECORDING (read with dv_processing.io.MonoCameraRecording) to the first
client: it prints "listening" once the socket is bound, waits for the client, writes every
batch at the recorded pace (each when its last event is due, as a camera delivers them),
waits until the write queue is empty and exits, which closes the connection.
--hold: after the recording keep the connection open (an idle camera) until killed.
"""

import os
import sys
import time

import dv_processing as dv


def main() -> None:
    path, port, hold = sys.argv[1], int(sys.argv[2]), "--hold" in sys.argv
    rec = dv.io.MonoCameraRecording(path)
    stream = dv.io.Stream.EventStream(0, "events", rec.getCameraName(), rec.getEventResolution())
    writer = dv.io.NetworkWriter("127.0.0.1", port, stream)
    print("listening", flush=True)
    deadline = time.monotonic() + 60
    while writer.getClientCount() < 1:
        if time.monotonic() > deadline:
            os._exit(2)
        time.sleep(0.005)
    start, t0 = time.monotonic(), None
    while (b := rec.getNextEventBatch()) is not None:  # at the recorded pace, as a camera
        t0 = b.getLowestTime() if t0 is None else t0
        time.sleep(max(0.0, start + (b.getHighestTime() - t0) / 1e6 - time.monotonic()))
        writer.writeEvents(b)
    while hold and writer.getClientCount() > 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    while writer.getQueuedPacketCount():
        time.sleep(0.005)
    time.sleep(0.1)
    os._exit(0)  # the writer's destructor can wait on its I/O thread; the OS closes the socket


if __name__ == "__main__":
    main()
