"""`python -m engine capture DRIVING -o motion.json`: driving video or voice -> motion file.

Audio files (by suffix: wav, mp3, m4a, ...) are captured from the voice
(engine/capture/audio.py); ``--audio`` takes the audio track of a video instead of its face (a
video file with sound but no picture is refused with that hint). ``--live SOURCE --seconds N``
records a take from a phone app, a webcam or a stream instead (engine/capture/live/)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import positive_float, unit_float
from ..errors import EngineError
from ..media.video import check_image_suffix
from ..motion import Motion
from ..outputs import check_outputs
from ..progress import Progress, console_bar
from ._checks import refuse_inputs_as_outputs, require_file

DENSE_REGIONS = ("all", "expression", "pose", "lips", "eyes")
DENSE_REFERENCES = ("neutral", "first")
DEVICES = ("auto", "cuda", "dml", "coreml", "cpu")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture", help="capture expression controls from a driving video or a voice")
    p.add_argument("video", nargs="?", help="driving video (mp4, mov, ...) or audio (wav, mp3, m4a, ...)")
    p.add_argument("-o", "--output", required=True, help="motion .json to write")
    p.add_argument("--frames", help="video frames A-B or A..B, both ends included (0-99 = 100 "
                                    "frames), or A- to the end")
    p.add_argument("--neutral-frame", type=int, default=None, help="calibration frame (default: auto)")
    p.add_argument("--smoothing", type=unit_float, default=None,
                   help="0 = off ... 1 = strong (One Euro; default 0.5; video capture only)")
    p.add_argument("--plot", help="also draw the control curves to this PNG (.png or .jpg)")
    add_voice_args(p)
    p.add_argument("--body", action="store_true",
                   help="also capture the body (33 joints and the torso/shoulder controls) in the same "
                        "pass as the face")
    p.add_argument("--sidecar", action="store_true", help="store dense arrays in a .npz sidecar")
    p.add_argument("--no-mouths", action="store_true",
                   help="do not keep the actor's mouth interiors (video capture writes them as "
                        "<name>.mouths.npz beside the motion by default; the built-in renderer "
                        "uses them for open mouths), nor the actor's expression creases "
                        "(<name>.creases.npz)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    add_dense_arguments(p)
    add_live_arguments(p)
    p.set_defaults(func=run)


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live performance (capture/live/; docs/live.md)")
    g.add_argument("--live", metavar="SOURCE",
                   help="record from livelink:[HOST:]PORT (Live Link Face, port 11111), "
                        "ifacialmocap:[HOST:]PORT (port 49983), a camera index (0) or a stream URL; "
                        "UDP listens on 127.0.0.1 unless HOST is given (0.0.0.0 = every network)")
    g.add_argument("--seconds", type=positive_float, default=None, help="length of the take (live)")
    g.add_argument("--wait", type=positive_float, default=3.0,
                   help="seconds to wait for the first packet or frame before giving up (default 3)")
    g.add_argument("--allow-network", action="store_true",
                   help="allow a stream URL on another host (loopback needs nothing)")


def add_dense_arguments(p: argparse.ArgumentParser) -> None:
    # choices spelled out here: importing engine.capture / engine.render would load mediapipe
    # and OpenCV just to print --help (same values as liveportrait_dense.REGIONS/REFERENCES and
    # render.liveportrait.providers.DEVICES; a test checks they agree)
    g = p.add_argument_group("dense LivePortrait expression (capture/liveportrait_dense.py)")
    g.add_argument("--dense", choices=("auto", "on", "off"), default="auto",
                   help="also store LivePortrait's per-frame expression and pose (auto: when its "
                        "models are installed)")
    g.add_argument("--dense-region", choices=DENSE_REGIONS, default="all",
                   help="animation region the dense track drives (default: all)")
    g.add_argument("--dense-reference", choices=DENSE_REFERENCES, default="neutral",
                   help="relative motion against the neutral frame (default) or driving frame 0")
    g.add_argument("--models-dir", help="model folder (default: $TALKING_HEAD_MODELS or the cache)")
    g.add_argument("--dense-device", choices=DEVICES, default="auto",
                   help="where the motion extractor runs (default: auto)")


def make_dense(args: argparse.Namespace):  # noqa: ANN201
    """The DenseCapture the arguments ask for, or None (printed either way)."""
    from ..capture.liveportrait_dense import DenseCapture, resolve

    path = resolve(args.dense, args.models_dir)
    if path is None:
        if args.dense == "auto":
            print("dense expression: off (LivePortrait models not installed)")
        return None
    dense = DenseCapture(path, region=args.dense_region, reference=args.dense_reference,
                         device=args.dense_device)
    print(f"dense expression: on (region {args.dense_region}, reference {args.dense_reference}, "
          f"motion extractor on {dense.provider})")
    return dense


def add_voice_args(p: argparse.ArgumentParser) -> None:
    """The options of audio capture (shared by ``capture`` and ``animate``)."""
    a = p.add_argument_group("voice (audio capture)")
    a.add_argument("--audio", action="store_true",
                   help="capture from the file's audio track (automatic for audio-only files)")
    a.add_argument("--fps", type=positive_float, default=None,
                   help="frame rate of the motion (default 25; --live: 30)")
    a.add_argument("--blinks", type=unit_float, default=1.0, metavar="0..1",
                   help="idle blinks strength, 0 = none (default 1)")
    a.add_argument("--head-motion", type=unit_float, default=1.0, metavar="0..1",
                   help="idle head motion and brow accents strength, 0 = none (default 1)")
    a.add_argument("--seed", type=int, default=0, help="random seed of the idle life (default 0)")
    a.add_argument("--voice-profile", metavar="PROFILE.json",
                   help="the actor's voice profile (learn it with `voice-profile CLIP.mp4 -o "
                        "PROFILE.json`): their own range of mouth openings and formants")


def video_smoothing(args: argparse.Namespace) -> float:
    return 0.5 if args.smoothing is None else args.smoothing


def refuse_video_options(args: argparse.Namespace) -> None:
    """Options of face capture that a voice capture cannot honour are refused, not ignored (the
    user would believe they took effect)."""
    given = [flag for flag, value in (("--neutral-frame", getattr(args, "neutral_frame", None)),
                                      ("--smoothing", args.smoothing))
             if value is not None]
    if getattr(args, "dense", "auto") == "on":
        given.append("--dense on")
    if given:
        raise EngineError(f"{', '.join(given)} applies to capture from a face in a video, not from a "
                          "voice; leave it out")


def refuse_voice_profile(args: argparse.Namespace) -> None:
    """A face capture cannot use a voice profile: refused, not ignored."""
    if getattr(args, "voice_profile", None):
        raise EngineError("--voice-profile applies to capture from a voice, not from a face in a "
                          "video; add --audio to capture the video's sound")


def capture_voice(args: argparse.Namespace, start: int, stop: int | None) -> Motion:
    """The Motion of ``args.video``'s voice with the options of ``add_voice_args``."""
    from ..capture.audio import capture_audio
    from ..capture.voice_profile import load

    refuse_video_options(args)
    profile = load(args.voice_profile) if getattr(args, "voice_profile", None) else None
    return capture_audio(args.video, fps=args.fps or 25.0, start=start, stop=stop,
                         blinks=args.blinks, head_motion=args.head_motion, seed=args.seed,
                         progress=Progress(console_bar("capture")), profile=profile)


def is_audio_source(path: str, force: bool) -> bool:
    """Audio capture for ``--audio`` and for audio files (by suffix: wav, mp3, m4a, ...)."""
    from ..media.audio import AUDIO_SUFFIXES

    return force or Path(path).suffix.lower() in AUDIO_SUFFIXES


def sound_only_hint(path: str) -> str | None:
    """For a video file that could not be opened: a message when it holds sound but no picture."""
    from ..media.audio import probe_audio
    from ..media.video import MediaError

    try:
        has_video = probe_audio(path).has_video
    except MediaError:
        return None
    if has_video:
        return None
    return (f"{Path(path).name} has an audio track but no picture: add --audio to capture its "
            "voice, or give a video with a face")


def run(args: argparse.Namespace) -> int:
    from ..frames import capture_span

    out = Path(args.output)
    if args.live is not None:
        return _run_live(args, out)
    if args.video is None:
        raise EngineError("give a driving video or audio file, or --live SOURCE --seconds N")
    if args.seconds is not None:
        raise EngineError("--seconds applies to --live capture; a file's capture takes the whole file "
                          "(or --frames)")
    start, stop = capture_span(args.frames)  # a typo in --frames fails before anything else
    # Every input and output is checked before the (long) capture starts.
    require_file(args.video, "driving video")
    if args.plot:
        check_image_suffix(args.plot, "--plot")
    from ..capture.creases import sidecar_path as crease_path
    from ..capture.mouth_exemplars import sidecar_path

    mouths = not args.no_mouths and not is_audio_source(args.video, args.audio)
    outputs = [(str(out), "motion file"), (str(out.with_suffix(".npz")) if args.sidecar else None, "sidecar"),
               (str(sidecar_path(out)) if mouths else None, "mouth exemplars"),
               (str(crease_path(out)) if mouths else None, "crease details"), (args.plot, "plot")]
    refuse_inputs_as_outputs([(args.video, "driving video")], outputs)
    check_outputs(outputs, args.overwrite)
    if is_audio_source(args.video, args.audio):
        if getattr(args, "body", False):  # refused, not ignored: the user would expect a body
            raise EngineError("--body applies to capture from a video, not from a voice; leave it out")
        return _run_audio(args, out, start, stop)
    refuse_voice_profile(args)
    if args.fps is not None:
        raise EngineError("--fps applies to audio capture only: a video's motion keeps its "
                          "frame rate (add --audio to capture its sound)")
    from ..capture import capture
    from ..media.video import MediaError

    dense = make_dense(args)
    try:
        motion = capture(args.video, start=start, stop=stop, calibration_frame=args.neutral_frame,
                         smoothing=video_smoothing(args), progress=Progress(console_bar("capture")),
                         dense=dense, body=bool(getattr(args, "body", False)), mouths=mouths)
    except MediaError as exc:
        hint = sound_only_hint(args.video)
        if hint is None:
            raise
        raise MediaError(hint) from exc
    motion.save(out, sidecar=args.sidecar, overwrite=args.overwrite)
    lost = int((~motion.tracked).sum())
    print(f"wrote {out}: {motion.frame_count} frames at {motion.fps:g} fps, "
          f"neutral frame {motion.calibration['frame']}, face lost in {lost} frames"
          + ("" if motion.mouths is None else f", {motion.mouths.count} mouth exemplars")
          + ("" if motion.creases is None else f", {motion.creases.count} crease details")
          + ("" if motion.body is None else
             f", body lost in {int((~motion.body.tracked).sum())} frames"))
    if args.plot:
        from ..plot import plot_motion

        plot_motion(motion, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _run_audio(args: argparse.Namespace, out: Path, start: int, stop: int | None) -> int:
    motion = capture_voice(args, start, stop)
    motion.save(out, sidecar=args.sidecar, overwrite=args.overwrite)
    src = motion.source
    speech = float(src.get("speech_seconds", 0.0))
    print(f"wrote {out}: {motion.frame_count} frames at {motion.fps:g} fps from the voice in "
          f"{Path(args.video).name}, speech in {speech:.1f} s"
          + (f", voice profile {Path(args.voice_profile).name}" if args.voice_profile else "")
          + ("" if speech > 0 else " (no speech found: the mouth stays closed)"))
    if args.plot:
        from ..plot import plot_motion

        plot_motion(motion, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _run_live(args: argparse.Namespace, out: Path) -> int:
    """A take from a live source: checks first, then record; Ctrl-C or a source that stops keeps
    what was recorded."""
    if args.video is not None:
        raise EngineError("give either a driving file or --live SOURCE, not both")
    if args.seconds is None:
        raise EngineError("--live needs --seconds N (the length of the take)")
    given = [flag for flag, on in (("--frames", args.frames), ("--audio", args.audio),
                                   ("--neutral-frame", args.neutral_frame is not None),
                                   ("--voice-profile", args.voice_profile),
                                   ("--dense on", args.dense == "on"))
             if on]
    if given:
        raise EngineError(f"{', '.join(given)} applies to capture from a file, not --live; leave it out")
    if args.plot:
        check_image_suffix(args.plot, "--plot")
    check_outputs([(str(out), "motion file"), (str(out.with_suffix(".npz")) if args.sidecar else None,
                                                "sidecar"), (args.plot, "plot")], args.overwrite)
    from ..capture.live import CameraSource, open_source, record_take

    source = open_source(args.live, allow_network=args.allow_network)
    camera = isinstance(source, CameraSource)
    smoothing = args.smoothing if args.smoothing is not None else (0.5 if camera else 0.0)
    print(f"live: listening for {source.describe()}" if not camera else f"live: opening {source.describe()}")
    if not camera and source.host == "0.0.0.0":
        print("live: listening on every network of this machine (0.0.0.0), as asked")
    motion, complete = record_take(source, args.seconds, args.fps or 30.0, first_timeout=args.wait,
                                   smoothing=smoothing)
    motion.save(out, sidecar=args.sidecar, overwrite=args.overwrite)
    src = motion.source
    dropped = sum(src.get("dropped", {}).values())
    lost = int((~motion.tracked).sum())
    print(f"wrote {out}: {motion.frame_count} frames at {motion.fps:g} fps from {src['samples']} samples"
          f" ({dropped} invalid packet(s) dropped), face lost in {lost} frames"
          + ("" if complete else "; the take was cut short, what arrived is kept"))
    if args.plot:
        from ..plot import plot_motion

        plot_motion(motion, args.plot)
        print(f"wrote {args.plot}")
    return 0
