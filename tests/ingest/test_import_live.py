"""`relay import --live`: every rule on, thresholds fitted on the log; fitted thresholds survive a re-import."""

import pandas as pd

from ingest.importers.run import HISTORICAL_THRESHOLDS, go_live, import_csv
from quality.all_rules import RULES
from quality.calibration_file import FILE_NAME, is_fitted
from quality.calibration_targets import TARGETS
from quality.thresholds import thresholds_for

TAILS = {target.name: target.tail for target in TARGETS}


def _log(tmp_path, days: int = 8):
    """Three users, each rating two items a day at 08:00 and 20:00, for ``days`` days."""
    rows = [
        (f"u{user}", f"i{(day + user + k) % 7}", f"2025-06-{day + 1:02d}T{8 + 12 * k:02d}:0{user}:00", 3 + k)
        for day in range(days)
        for user in range(3)
        for k in range(2)
    ]
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["who", "what", "when", "stars"]).to_csv(path, index=False)
    return path


def test_a_dump_switches_rules_off_but_never_overwrites_fitted_thresholds(settings, tmp_path):
    path, thresholds = _log(tmp_path, days=2), settings.root / FILE_NAME
    import_csv(settings, path, "who", "what", "when")
    assert thresholds.read_text() == HISTORICAL_THRESHOLDS
    assert not thresholds_for(settings)["volume"]["enabled"]

    import_csv(settings, path, "who", "what", "when", live=True)  # a live feed: the dump's file goes
    assert not thresholds.exists()
    assert all(thresholds_for(settings)[rule].get("enabled", True) for rule in RULES)

    fitted = "# Thresholds fitted on this feed's own history by `relay quality calibrate`\nvolume: {max_ratio: 3.5}\n"
    thresholds.write_text(fitted)
    import_csv(settings, path, "who", "what", "when")
    assert thresholds.read_text() == fitted


def test_a_live_import_fits_every_rule_on_the_log_and_keeps_them_on(settings, tmp_path):
    path = _log(tmp_path)
    converted = import_csv(settings, path, "who", "what", "when", rating_col="stars", negatives=1, live=True)
    calibration = go_live(settings, converted, "csv log.csv")
    thresholds = settings.root / FILE_NAME
    assert is_fitted(thresholds)
    text = thresholds.read_text()
    assert "by `relay import csv log.csv --live`" in text
    assert "# fitted on: 8 days, 2025-06-01..2025-06-08 (the 2 weeks up to 2025-06-08)" in text
    assert calibration.fit_days == tuple(f"2025-06-{d:02d}" for d in range(1, 9))
    merged = thresholds_for(settings)
    assert all(merged[rule]["enabled"] for rule in RULES)
    for fitted in calibration.fitted:
        assert merged[fitted.rule][fitted.key] == fitted.value
        upper = TAILS[fitted.name] == "upper"
        assert fitted.value >= fitted.default if upper else fitted.value <= fitted.default  # the defaults are the floor

    import_csv(settings, path, "who", "what", "when")  # a plain re-import keeps the fitted file
    assert thresholds.read_text() == text
