"""Print the crisis lexicons' precision and recall on the labelled evaluation set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.risk.detection import Lexicon
from messaging.risk.evaluate import (
    EVALUATION_SET,
    SPLITS,
    EvaluationSetError,
    evaluate,
    in_split,
    read_examples,
)
from messaging.risk.lexicon import LexiconFileError, lexicon_for, shipped_lexicon


class Command(BaseCommand):
    help = "Precision and recall of the crisis lexicons on a labelled set of messages."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=EVALUATION_SET)
        parser.add_argument(
            "--shipped",
            action="store_true",
            help="Evaluate the shipped lexicon files instead of the database's (admin edits).",
        )
        parser.add_argument(
            "--split",
            choices=SPLITS,
            default="all",
            help="Odd ids tune the lexicon (development); even ids are held out.",
        )
        parser.add_argument(
            "--errors", action="store_true", help="List the ids of missed and false alarms."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            examples = read_examples(options["file"])
        except (OSError, EvaluationSetError) as exc:
            raise CommandError(f"cannot read the evaluation set: {exc}") from None
        examples = [e for e in examples if in_split(e, options["split"])]
        if not examples:
            raise CommandError("the evaluation set is empty")
        load = shipped_lexicon if options["shipped"] else lexicon_for
        cache: dict[str, Lexicon] = {}

        def lexicons(language: str) -> list[Lexicon]:
            if language not in cache:
                cache[language] = load(language)
            return [cache[language]]

        try:
            scores = evaluate(examples, lexicons)
        except LexiconFileError as exc:  # --shipped, and a language with no shipped file
            raise CommandError(str(exc)) from None
        source = "shipped files" if options["shipped"] else "database"
        self.stdout.write(
            f"Crisis lexicon ({source}) on {options['file'].name}, {options['split']} split:"
        )
        self.stdout.write(
            f"{'language':<10}{'messages':>9}{'precision':>11}{'recall':>8}{'F1':>7}"
            f"{'TP':>5}{'FP':>5}{'FN':>5}{'TN':>5}"
        )
        for language in sorted(scores, key=lambda key: (key == "all", key)):
            s = scores[language]
            self.stdout.write(
                f"{language:<10}{s.total:>9}{s.precision:>11.3f}{s.recall:>8.3f}{s.f1:>7.3f}"
                f"{s.true_positive:>5}{s.false_positive:>5}{s.false_negative:>5}"
                f"{s.true_negative:>5}"
            )
        if options["errors"]:
            overall = scores["all"]
            self.stdout.write("missed: " + ", ".join(overall.missed))
            self.stdout.write("false alarms: " + ", ".join(overall.false_alarms))
