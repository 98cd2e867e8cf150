"""Package the diffgate binary of a wheel as a release archive.

usage: package-binary.py WHEEL_DIR TARGET OUT_DIR

Takes the one diffgate wheel in WHEEL_DIR (maturin puts the binary under
<name>.data/scripts/), and writes OUT_DIR/diffgate-VERSION-TARGET.tar.gz
(.zip for Windows targets) holding `diffgate` (or `diffgate.exe`) at its
top level, and beside it ARCHIVE.sha256 ("HASH  NAME", as sha256sum
writes). The release workflow publishes both; the action and
`cargo binstall` read them (.github/install-diffgate.sh checks the hash).
"""

import hashlib
import io
import pathlib
import re
import sys
import tarfile
import zipfile


def main() -> int:
    wheel_dir, target, out_dir = (pathlib.Path(a) for a in sys.argv[1:4])
    target = str(target)
    wheels = sorted(wheel_dir.glob("diffgate_sql-*.whl"))
    if len(wheels) != 1:
        print(f"expected one diffgate_sql wheel in {wheel_dir}, found {len(wheels)}", file=sys.stderr)
        return 2
    wheel = wheels[0]
    version = re.match(r"diffgate_sql-([^-]+)-", wheel.name).group(1)
    windows = "windows" in target
    exe = "diffgate.exe" if windows else "diffgate"
    with zipfile.ZipFile(wheel) as z:
        inside = [n for n in z.namelist() if re.fullmatch(r"[^/]+\.data/scripts/" + re.escape(exe), n)]
        if len(inside) != 1:
            print(f"{wheel}: no {exe} under *.data/scripts/", file=sys.stderr)
            return 2
        binary = z.read(inside[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"diffgate-{version}-{target}.{'zip' if windows else 'tar.gz'}"
    archive = out_dir / name
    if windows:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(zipfile.ZipInfo(exe, date_time=(1980, 1, 1, 0, 0, 0)), binary)
    else:
        info = tarfile.TarInfo(exe)
        info.size = len(binary)
        info.mode = 0o755
        with tarfile.open(archive, "w:gz") as t:
            t.addfile(info, io.BytesIO(binary))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    (out_dir / f"{name}.sha256").write_text(f"{digest}  {name}\n")
    print(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main())
