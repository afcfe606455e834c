#!/usr/bin/python3
# A real RTSP server for tests: GStreamer's rtsp-server serving one stream
# at rtsp://127.0.0.1:PORT/s with a flat colour (H.264) and a sine tone
# (Opus). Usage: server.py PORT FREQ RGB (RGB as 6 hex digits).
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer

port, freq, rgb = sys.argv[1], sys.argv[2], sys.argv[3]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_shared(True)
factory.set_launch(
    "( videotestsrc is-live=true pattern=solid-color foreground-color=0xff%s "
    "! video/x-raw,width=320,height=240,framerate=15/1 ! videoconvert "
    "! openh264enc gop-size=15 bitrate=300000 "
    "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 "
    "audiotestsrc is-live=true wave=sine freq=%s volume=0.3 "
    "! audio/x-raw,rate=48000,channels=1 ! audioconvert ! opusenc ! rtpopuspay name=pay1 pt=97 )"
    % (rgb, freq)
)
server.get_mount_points().add_factory("/s", factory)
if server.attach(None) == 0:
    sys.exit("rtsp_server: cannot listen on port " + port)
print("ready", flush=True)
GLib.MainLoop().run()
