"""The code's own revision, shown by /version/. A deploy writes this file into each release
directory (molecule/releases): a visible code difference between releases, not configuration."""
REVISION = "sample"
