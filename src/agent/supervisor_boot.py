"""`supervisor`: keep one supervisord program from starting at boot, and put its file back byte for byte.

supervisord has no "disable": a program starts at boot unless its own section says autostart=false,
and its defaults are autostart=true and autorestart=unexpected. Most hand-written program files omit
both lines, and one file may hold several programs, so the section is edited, never the whole file.

  off NAME KEPT [CONF]       keep NAME's file as KEPT (once), write autostart=false and autorestart=false
                             into NAME's own section (added when missing), reread, then read it back
  restore NAME KEPT [CONF]   put the kept file back byte for byte (nothing kept: nothing to do), reread,
                             read it back

CONF is supervisord's main config (default: /etc/supervisor/supervisord.conf, else /etc/supervisord.conf);
the program is looked for there and in the files its [include] section names. Exit 0 with one JSON line;
else exit 1 with one line on stderr naming the problem and the fix.
"""
import configparser
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

DEFAULT_CONFS = ("/etc/supervisor/supervisord.conf", "/etc/supervisord.conf")
OFF = ("autostart", "autorestart")


class Fail(Exception):
    pass


def main_conf(conf):
    if conf:
        return conf
    for c in DEFAULT_CONFS:
        if os.path.isfile(c):
            return c
    raise Fail(
        "no supervisord config at %s: set the service's manager right, or its config path" % " or ".join(DEFAULT_CONFS)
    )


def parse(text):
    p = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";",), interpolation=None)
    p.read_string(text)
    return p


def candidates(conf):
    """The main config, then every file its [include] files= globs name (relative to its dir)."""
    out = [conf]
    with open(conf, encoding="utf-8", errors="surrogateescape") as f:
        p = parse(f.read())
    if p.has_section("include") and p.has_option("include", "files"):
        for pat in p.get("include", "files").split():
            pat = pat if os.path.isabs(pat) else os.path.join(os.path.dirname(conf), pat)
            out.extend(sorted(glob.glob(pat)))
    return out


def header(name):
    return re.compile(r"^\[program:%s\]\s*$" % re.escape(name))


def find(name, conf):
    h = header(name)
    hits = []
    for path in candidates(conf):
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "surrogateescape").splitlines()
        if any(h.match(line) for line in lines):
            hits.append(path)
    if not hits:
        raise Fail("no [program:%s] in %s or the files it includes: check the service name" % (name, conf))
    if len(hits) > 1:
        raise Fail(
            "[program:%s] is defined in %s: supervisord reads only one; remove the others first"
            % (name, " and ".join(hits))
        )
    return hits[0]


def edited(text, name):
    """TEXT with NAME's section saying autostart=false and autorestart=false; other sections untouched."""
    lines = text.splitlines(keepends=True)
    h = header(name)
    key = re.compile(r"^\s*(%s)\s*[=:]" % "|".join(OFF))
    out, inside = [], False
    for line in lines:
        if line.lstrip().startswith("["):
            inside = bool(h.match(line.rstrip("\r\n")))
            out.append(line)
            if inside:
                nl = "\r\n" if line.endswith("\r\n") else "\n"
                if not line.endswith("\n"):
                    out[-1] = line + nl
                out.extend("%s=false%s" % (k, nl) for k in OFF)
            continue
        if inside and key.match(line):
            continue  # replaced by the lines written under the header
        out.append(line)
    return "".join(out)


def section_says(path, name):
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        p = parse(f.read())
    s = "program:%s" % name
    return {k: (p.get(s, k).strip().lower() if p.has_option(s, k) else None) for k in OFF}


def write_like(path, data, like):
    """Replace PATH with DATA (bytes), mode and owner of LIKE, by rename in PATH's own (root-owned) dir."""
    st = os.stat(like)
    tmp = "%s.cutover-%s" % (path, os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, st.st_mode & 0o7777)
    try:
        os.write(fd, data)
        os.fchown(fd, st.st_uid, st.st_gid)
        os.fchmod(fd, st.st_mode & 0o7777)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def reread():
    r = subprocess.run(["supervisorctl", "reread"], capture_output=True, text=True)
    if r.returncode != 0 and "No config updates" not in r.stdout:
        raise Fail(
            "supervisorctl reread failed (%s): check supervisord is running (supervisorctl status)"
            % (r.stdout + r.stderr).strip().splitlines()[-1:]
        )


def sha(b):
    return hashlib.sha256(b).hexdigest()


def cmd_off(name, kept, conf=None):
    path = find(name, main_conf(conf))
    with open(path, "rb") as f:
        data = f.read()
    if not os.path.exists(kept):
        os.makedirs(os.path.dirname(kept), mode=0o700, exist_ok=True)
        write_like(kept, data, path)
        with open(kept + ".path", "w") as f:
            f.write(path)
    new = edited(data.decode("utf-8", "surrogateescape"), name).encode("utf-8", "surrogateescape")
    if new != data:
        write_like(path, new, path)
    reread()
    says = section_says(path, name)
    if any(says[k] != "false" for k in OFF):
        raise Fail("%s still says %s for [program:%s] after the edit: fix the file by hand" % (path, says, name))
    print(json.dumps({"program": name, "file": path, "kept": kept, **{k: False for k in OFF}}))


def cmd_restore(name, kept, conf=None):
    if not os.path.exists(kept):
        print(json.dumps({"program": name, "restored": False, "why": "nothing kept: the file was never changed"}))
        return
    with open(kept + ".path") as f:
        path = f.read()
    with open(kept, "rb") as f:
        data = f.read()
    write_like(path, data, kept)
    reread()
    with open(path, "rb") as f:
        if sha(f.read()) != sha(data):
            raise Fail("%s is not the kept copy after putting it back: copy %s over it by hand" % (path, kept))
    print(json.dumps({"program": name, "file": path, "restored": True, "sha256": sha(data)}))


def main(argv):
    if len(argv) < 3 or argv[0] not in ("off", "restore"):
        sys.stderr.write(__doc__)
        return 2
    try:
        (cmd_off if argv[0] == "off" else cmd_restore)(*argv[1:])
    except Fail as e:
        sys.stderr.write("supervisor: %s\n" % e)
        return 1
    except OSError as e:
        sys.stderr.write("supervisor: %s: %s\n" % (e.filename, e.strerror))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
