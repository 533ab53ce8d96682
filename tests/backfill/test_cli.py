"""`adapter backfill`: arguments, messages, the summary and the progress lines."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from adapter.cli import backfill as cli
from adapter.cli import main
from tests.backfill.export import write_export
from workers.backfill import Progress

SHOP = "riyadh-oud.myshopify.com"


@pytest.fixture
def env(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ADAPTER_CONFIG", "SHOPIFY_SHOP_SECRETS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "orders_export.csv"
    write_export(path, 12)
    return path


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_resume_is_the_default() -> None:
    assert parse("--source", "shopify", "f.csv").restart is False
    assert parse("--source", "shopify", "f.csv", "--resume").restart is False
    assert parse("--source", "shopify", "f.csv", "--restart").restart is True


@pytest.mark.usefixtures("env")
def test_the_summary_counts_what_happened(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backfill", "--source", "shopify", str(export), "--shop", SHOP])

    out = capsys.readouterr().out
    assert code == 0
    assert f"Backfill of orders_export.csv for {SHOP}:" in out
    assert "orders read     12 (through row 25)" in out
    assert "queued          12" in out
    assert "mapping errors  0" in out


@pytest.mark.usefixtures("env")
def test_mapping_errors_are_listed_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders_export.csv"
    write_export(path, 3)
    path.write_text(path.read_text().replace(",5900000001003,", ",,"))

    main(["backfill", "--source", "shopify", str(path), "--shop", SHOP])

    out = capsys.readouterr().out
    assert "mapping errors  1" in out
    assert "    row 5: Shopify order has no id" in out


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_a_line_per_tenth() -> None:
    stream = io.StringIO()
    bar = cli.ProgressBar(stream)

    for done in range(1, 101):
        bar.update(Progress(total=100, done=done, queued=done))
    bar.close()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[0].startswith("[" + "." * 30 + "]   1% 1/100 orders")
    assert lines[-1].startswith("[" + "#" * 30 + "] 100% 100/100 orders  queued 100")


def test_progress_on_a_terminal_redraws_one_line() -> None:
    stream = Terminal()
    bar = cli.ProgressBar(stream)

    bar.update(Progress(total=10, done=10))
    bar.close()

    assert stream.getvalue().startswith("\r\x1b[2K[")
    assert stream.getvalue().endswith("\n")
    assert stream.getvalue().count("\n") == 1


def test_waiting_for_the_outbox_is_shown() -> None:
    stream = io.StringIO()

    cli.ProgressBar(stream).update(Progress(total=10, done=5, waiting="outbox holds 9 entries"))

    assert "(waiting: outbox holds 9 entries)" in stream.getvalue()


@pytest.mark.usefixtures("env")
def test_without_a_shop_it_asks_for_one(export: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backfill", "--source", "shopify", str(export)])

    assert code == 2
    assert "pass --shop" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_the_one_configured_shop_is_the_default(
    export: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPIFY_SHOP_SECRETS", '{"Riyadh-Oud.myshopify.com": ["s"]}')

    assert main(["backfill", "--source", "shopify", str(export)]) == 0
    assert f"for {SHOP}:" in capsys.readouterr().out


@pytest.mark.usefixtures("env")
def test_a_file_that_is_not_an_order_export_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("First Name,Email\nNoha,noha@example.com\n")

    code = main(["backfill", "--source", "shopify", str(path), "--shop", SHOP])

    assert code == 2
    assert "not a Shopify order export" in capsys.readouterr().err


@pytest.mark.usefixtures("env")
def test_a_missing_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backfill", "--source", "shopify", str(tmp_path / "nope.csv"), "--shop", SHOP])

    assert code == 2
    assert "no such file" in capsys.readouterr().err
