"""Score the handoff detector on its labelled set: precision, recall and latency.

Run from the project folder:  python -m bench.handoff_eval [--errors] [--split dev|test]

The set is tests/data/handoff_eval.json: customer messages labelled handoff true (the customer
asks for a person) or false. Precision: of the messages the detector hands off, the share that
asked for a person (a false handoff counts against it). Recall: of the messages that asked for a
person, the share handed off. The rules were chosen on the dev split; the test split is held out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `app` importable
    sys.path.insert(0, str(ROOT))

from app.services.handoff_intent import handoff_cue  # noqa: E402

EVAL_FILE = ROOT / "tests" / "data" / "handoff_eval.json"
ROUNDS = 50


def load_sentences(path: Path = EVAL_FILE) -> list[dict]:
    """Return the labelled sentences of the evaluation set."""
    return json.loads(path.read_text(encoding="utf-8"))["sentences"]


@dataclass(frozen=True)
class Score:
    """Counts of one run of the detector over labelled sentences."""

    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    @property
    def precision(self) -> float:
        """Return the share of handoffs that were asked for (1.0 when nothing was handed off)."""
        handed_off = self.true_positives + self.false_positives
        return self.true_positives / handed_off if handed_off else 1.0

    @property
    def recall(self) -> float:
        """Return the share of requests for a person that were handed off (1.0 when there were none)."""
        asked = self.true_positives + self.false_negatives
        return self.true_positives / asked if asked else 1.0


def score(sentences: list[dict]) -> Score:
    """Return the counts of the detector's answers against the labels."""
    counts = {(True, True): 0, (False, True): 0, (True, False): 0, (False, False): 0}
    for sentence in sentences:
        counts[(handoff_cue(sentence["text"]) is not None, sentence["handoff"])] += 1
    return Score(counts[(True, True)], counts[(True, False)], counts[(False, True)], counts[(False, False)])


def errors(sentences: list[dict]) -> list[tuple[dict, str | None]]:
    """Return the sentences the detector gets wrong, each with the cue it matched (None: no handoff)."""
    wrong = []
    for sentence in sentences:
        cue = handoff_cue(sentence["text"])
        if (cue is not None) != sentence["handoff"]:
            wrong.append((sentence, cue))
    return wrong


def microseconds_per_message(sentences: list[dict], rounds: int = ROUNDS) -> list[float]:
    """Return each sentence's median time per call in microseconds, over `rounds` calls (a busy
    machine's pauses fall outside the median)."""
    medians = []
    for sentence in sentences:
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            handoff_cue(sentence["text"])
            timings.append((time.perf_counter() - started) * 1e6)
        medians.append(statistics.median(timings))
    return medians


def main(argv: list[str] | None = None) -> None:
    """Print precision, recall and counts overall, on dev and on test; the errors with --errors."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the sentences the detector gets wrong")
    parser.add_argument("--split", choices=("dev", "test"), help="list errors of this split only")
    args = parser.parse_args(argv)
    sentences = load_sentences()
    positives = sum(sentence["handoff"] for sentence in sentences)
    print(f"set: {len(sentences)} sentences, {positives} ask for a person, {len(sentences) - positives} do not\n")
    print("| split | sentences | precision | recall | handed off right | false handoffs | missed |")
    print("|---|---|---|---|---|---|---|")
    for split in ("all", "dev", "test"):
        chosen = [s for s in sentences if split == "all" or s["split"] == split]
        result = score(chosen)
        print(
            f"| {split} | {len(chosen)} | {result.precision:.3f} | {result.recall:.3f} | {result.true_positives}"
            f" | {result.false_positives} | {result.false_negatives} |"
        )
    timings = sorted(microseconds_per_message(sentences))
    print(
        f"\nlatency per message (each message's median of {ROUNDS} calls): median {statistics.median(timings):.1f} us,"
        f" p90 {timings[int(0.9 * len(timings))]:.1f} us, slowest {timings[-1]:.1f} us"
    )
    if args.errors:
        chosen = [s for s in sentences if args.split is None or s["split"] == args.split]
        print("\nerrors:")
        for sentence, cue in errors(chosen):
            verdict = f"false handoff ({cue})" if cue else "missed"
            print(f"  [{sentence['split']}] {verdict}, {sentence['kind']}: {sentence['text']}")


if __name__ == "__main__":
    main()
