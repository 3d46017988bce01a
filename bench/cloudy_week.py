"""The worked example of docs/power-policy.md: what each job did each day of a simulated week.

Plays tests/peers/solar_site.py (a 24 V 190 Ah lead-acid bank, 1.2 kW of panels, a clinic's
loads, the backup / sync / report jobs of `clinic_jobs`) minute by minute through
`maintenance.energy.policy.decide` and `maintenance.energy.shedding.shedding_decision`, and prints
one Markdown row per day. Deterministic: the same command prints the same table.

    python bench/cloudy_week.py [--weather cloudy|sunny|rain] [--soc 0.6] [--no-soc]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.peers

from tests.peers.solar_site import Weather, clinic_jobs, day_table, run  # noqa: E402

WEEKS = {
    "cloudy": ("cloudy",) * 7,
    "sunny": ("sunny",) * 7,
    "rain": ("sunny",) + ("rainy",) * 7 + ("sunny",) * 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weather", choices=sorted(WEEKS), default="cloudy")
    parser.add_argument("--soc", type=float, default=0.6, help="starting SOC (fraction)")
    parser.add_argument("--no-soc", action="store_true", help="a bank without SOC (voltage)")
    args = parser.parse_args()
    weather, jobs = Weather(WEEKS[args.weather]), clinic_jobs()
    result = run(weather, jobs, args.soc, report_soc=not args.no_soc)
    print("\n".join(day_table(weather, result, jobs)))
    cuts, offs = len(result.power_cuts), len(result.shutdowns)
    print(f"\npower cuts while the box was up: {cuts}; clean shutdowns: {offs}")


if __name__ == "__main__":
    main()
