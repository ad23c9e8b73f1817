"""`ble-rtls`: replay recorded adverts, simulate a site, benchmark the engine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from custom_components.ble_rtls.engine import (
    AdvertsError,
    Engine,
    EngineConfig,
    SiteError,
    load_site,
    read_adverts,
)

from .bench import (
    default_datasets,
    family_table,
    progress_to_stderr,
    recordings,
    run,
    run_families,
    table,
    targets,
)
from .render import RenderError, render_replay
from .replay import replay, write_positions
from .simulate import SCENARIOS, write_simulation

ADVERTISE_HELP = "simulated receivers also send a beacon, which the others hear"
SURVEY_HELP = "survey points this many metres apart in every simulated room (0: none)"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="ble-rtls", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    replay_cmd = commands.add_parser(
        "replay", help="run the engine on ADVERTS.csv, write POSITIONS.csv"
    )
    replay_cmd.add_argument("--site", required=True, type=Path)
    replay_cmd.add_argument("--adverts", required=True, type=Path)
    replay_cmd.add_argument("--out", required=True, type=Path)
    replay_cmd.add_argument("--rssi-filter", choices=("trimmed", "kalman"), default="trimmed")
    replay_cmd.add_argument("--no-self-calibration", action="store_true")

    simulate_cmd = commands.add_parser("simulate", help="write SITE.json, ADVERTS.csv, TRUTH.csv")
    simulate_cmd.add_argument("--scenario", choices=sorted(SCENARIOS), default="house")
    simulate_cmd.add_argument("--duration", type=float, default=600.0, help="seconds")
    simulate_cmd.add_argument("--seed", type=int, default=1)
    simulate_cmd.add_argument("--out", required=True, type=Path, help="output folder")
    simulate_cmd.add_argument("--receivers-advertise", action="store_true", help=ADVERTISE_HELP)
    simulate_cmd.add_argument("--survey-spacing", type=float, default=0.0, help=SURVEY_HELP)

    bench_cmd = commands.add_parser(
        "bench", help="engine vs baselines on simulated and recorded sites"
    )
    bench_cmd.add_argument(
        "--data",
        type=Path,
        action="append",
        default=None,
        help="a recorded dataset folder (repeatable); default: every recording under the"
        " shared data folder beside the repository",
    )
    bench_cmd.add_argument(
        "--duration", type=float, default=600.0, help="simulated seconds per site"
    )
    bench_cmd.add_argument("--seed", type=int, default=1)
    bench_cmd.add_argument("--receivers-advertise", action="store_true", help=ADVERTISE_HELP)
    bench_cmd.add_argument("--survey-spacing", type=float, default=0.0, help=SURVEY_HELP)
    bench_cmd.add_argument(
        "--families",
        type=int,
        default=4,
        help="seeds of each family of randomised sites (house, office, hall, corridor, aisles,"
        " two floors), each its own layout and radio; 0: none",
    )

    render_cmd = commands.add_parser("render", help="draw the map at the end of POSITIONS.csv")
    render_cmd.add_argument("--site", required=True, type=Path)
    render_cmd.add_argument("--positions", required=True, type=Path)
    render_cmd.add_argument("--out", required=True, type=Path, help="PNG file")
    render_cmd.add_argument("--floor", type=int, default=None, help="default: the lowest")

    args = parser.parse_args(argv)
    try:
        if args.command == "replay":
            return _replay(args)
        if args.command == "simulate":
            folder = write_simulation(
                args.out,
                args.scenario,
                args.duration,
                args.seed,
                args.receivers_advertise,
                args.survey_spacing,
            )
            print(f"wrote {folder}/SITE.json, ADVERTS.csv, TRUTH.csv")
            return 0
        if args.command == "render":
            site = load_site(args.site)
            floor = site.floors[0] if args.floor is None else args.floor
            args.out.write_bytes(render_replay(site, args.positions, floor))
            print(f"wrote {args.out}", file=sys.stderr)
            return 0
        return _bench(args)
    except (SiteError, AdvertsError, RenderError) as err:
        print(f"ble-rtls: error: {err}", file=sys.stderr)
        return 2


def _replay(args: argparse.Namespace) -> int:
    site = load_site(args.site)
    config = EngineConfig(rssi_filter=args.rssi_filter, self_calibrate=not args.no_self_calibration)
    engine = Engine(site, config)
    rows = write_positions(args.out, replay(engine, read_adverts(args.adverts)))
    skipped = sum(engine.unknown_receivers.values())
    if skipped:
        names = ", ".join(sorted(engine.unknown_receivers))
        print(
            f"ble-rtls: warning: skipped {skipped} adverts from unknown receivers: {names}",
            file=sys.stderr,
        )
    print(f"wrote {rows} positions to {args.out}", file=sys.stderr)
    return 0


# Real recordings in the replay format, when the repository sits beside the shared folder.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _bench(args: argparse.Namespace) -> int:
    data_dirs = args.data
    if data_dirs is None:
        data_dirs = recordings(SHARED_DATA)
    datasets = default_datasets(
        data_dirs, args.duration, args.seed, args.receivers_advertise, args.survey_spacing
    )
    scores = run(datasets, progress_to_stderr)
    print(table(scores))
    print()
    print(targets(scores))
    if args.families:
        print()
        print(family_table(run_families(args.families, args.duration, progress_to_stderr)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
