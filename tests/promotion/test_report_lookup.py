"""Which promotion report ``relay report`` opens: a version's own, or the newest evaluated."""

from pathlib import Path

from promotion.report import find_report, report_dir


def test_the_newest_report_is_found_by_version_number_not_by_name(tmp_path: Path) -> None:
    for version in (2, 10, 9):
        report_dir(tmp_path, version).mkdir(parents=True)
    assert find_report(tmp_path) == tmp_path / "reports" / "ranker-v10"  # not "ranker-v9" by string order
    assert find_report(tmp_path, 2) == tmp_path / "reports" / "ranker-v2"
    assert find_report(tmp_path, 3) is None
    assert find_report(tmp_path / "empty") is None
