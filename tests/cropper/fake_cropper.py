"""A cropper program for the external_json tests: speaks the JSON-lines protocol (stdlib only).

Usage: python fake_cropper.py MODE [N]. MODE says how it behaves:
good (centred windows, point = centre, reads the PNG header to check the size), crash (exits at
once with status 3), crash_after (good for N requests, then exits), hang (never replies to
request N and later), garbage (prints a non-JSON line instead of each reply), wrong_id (answers
with id + 1), error (replies {"error": ...}), outside (a box outside the image), floats
(boxes as whole-number floats), fractional (a box edge at x.5), slow_first
(sleeps N seconds before its first reply), late (a stray line before the first reply, which
then arrives late), hang_child (ignores SIGTERM, a child holds stdout), noisy (logs to
stderr, then answers).
"""

import json
import signal
import struct
import subprocess
import sys
import time


def png_size(path):
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def centred(req):
    w, h = req["width"], req["height"]
    out = []
    for cw, ch in req["window_sizes"]:
        out.append([(w - cw) // 2, (h - ch) // 2, cw, ch])
    return out


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    mode = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if mode == "crash":
        sys.stderr.write("fake cropper: cannot load my model\n")
        sys.exit(3)
    count = 0
    for line in sys.stdin:
        req = json.loads(line)
        count += 1
        size = png_size(req["image"]) if req["image"].endswith(".png") else None
        if size is not None and list(size) != [req["width"], req["height"]]:
            send({"id": req["id"], "error": f"PNG is {size}, request says "
                                            f"{req['width']}x{req['height']}"})
            continue
        reply = {"id": req["id"], "crops": centred(req),
                 "point": [req["width"] // 2, req["height"] // 2], "info": {"n": count}}
        if mode == "crash_after" and count > n:
            sys.stderr.write("fake cropper: segfault (simulated)\n")
            sys.stderr.flush()
            sys.exit(139 - 128)
        if mode == "hang" and count >= n:
            time.sleep(3600)
        if mode == "hang_child":
            # ignores SIGTERM and leaves a child holding stdout: only a group kill ends both
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            sys.stderr.write(f"child pid {child.pid}\n")
            sys.stderr.flush()
            time.sleep(3600)
        if mode == "garbage":
            sys.stdout.write("Loading model... done <html>\n")
            sys.stdout.flush()
            continue
        if mode == "wrong_id":
            reply["id"] = req["id"] + 1
        if mode == "error":
            reply = {"id": req["id"], "error": "quota exceeded"}
        if mode == "floats":  # whole numbers written as floats are accepted
            reply["crops"] = [[float(v) for v in c] for c in reply["crops"]]
        if mode == "fractional":
            reply["crops"][0][0] += 0.5
        if mode == "outside":
            reply["crops"][0][0] += 5 + req["width"]
        if mode == "slow_first" and count == 1:
            time.sleep(n)
        if mode == "noisy":
            sys.stderr.write(f"fake cropper: handling {req['id']}\n" * 50)
            sys.stderr.flush()
        if mode == "late" and count == 1:
            sys.stdout.write("progress: 100%\n")  # a stray line first: request 1 fails on it,
            sys.stdout.flush()                    # and its real reply below arrives late
        send(reply)


if __name__ == "__main__":
    main()
