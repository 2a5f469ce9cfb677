"""A data dir and an SQLite file left readable by other users (an older version) are tightened at start."""

import stat
from pathlib import Path

from modelyard.config import Settings
from modelyard.services.hub import Hub


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_older_wide_data_dir_and_database_are_tightened(tmp_path, caplog):
    data_dir = tmp_path / "data"
    Hub.open(Settings(data_dir=data_dir))
    database = data_dir / "modelyard.db"
    data_dir.chmod(0o755)
    database.chmod(0o644)

    Hub.open(Settings(data_dir=data_dir))

    assert _mode(data_dir) == 0o700
    assert _mode(database) == 0o600
    assert f"{data_dir} was readable by other users (mode 0755): changed to 0700" in caplog.text


def test_a_new_database_outside_the_data_dir_is_private_whatever_the_umask(tmp_path):
    database = tmp_path / "elsewhere" / "hub.db"
    database.parent.mkdir()
    Hub.open(Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{database}"))
    assert _mode(database) == 0o600
    assert {
        _mode(Path(f"{database}{suffix}")) for suffix in ("-wal", "-shm") if Path(f"{database}{suffix}").exists()
    } <= {0o600}
