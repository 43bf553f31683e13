"""verify (a dir against the manifest) and parity (the live dir against its volume): each names what differs."""
import json, os, sqlite3, stat as S, zlib

import core
from core import Fail, Laps, complete, fsb, partial, show, write_text
from dbs import Databases, sides
from sqlite import same_database, sqlite_logical
from walk import identity, leaders, same_bytes, settle_past_ctimes, sha256_file, stat_record, unchanged_since_read, walk


def _failed(head, problems):
    """One line: HEAD, how many differ, the first five readable."""
    more = "; and %d more" % (len(problems) - 5) if len(problems) > 5 else ""
    return "%s: %d differ: %s%s" % (head, len(problems), "; ".join(problems[:5]), more)


def _kind(s):
    return "link" if S.S_ISLNK(s.st_mode) else "file" if S.S_ISREG(s.st_mode) else "other"


_MANIFESTS = {}  # (path, its identity) -> the manifest read: one read per process (and its forked children)


def load_manifest(path):
    """The manifest at PATH, read once per process while the file stays the same (the standby reads it
    before the freeze); the caller must not change what it gets."""
    key = (path, tuple(identity(os.stat(path))))
    if key not in _MANIFESTS:
        with open(path) as f:
            _MANIFESTS[key] = json.load(f)
    return _MANIFESTS[key]


def manifest_archive(path, name):
    """NAME's archive in the manifest at PATH: {"files": {rel: entry}, "find_dbs", ...} (load_manifest)."""
    archives = load_manifest(path)["archives"]
    if name not in archives:
        raise Fail(
            2,
            "%s: %s has no data set %s (it has %s)"
            % (core.CTX.cmd, show(path), show(name), ", ".join(map(show, sorted(archives))) or "none"),
        )
    return archives[name]


def manifest_files(path, name):
    return manifest_archive(path, name)["files"]


def _verify_one(r, m, p, got):
    """What is wrong with the entry R of DIR at P against its manifest entry M, or None."""
    s = os.lstat(p)
    if "link" in m:
        if not S.S_ISLNK(s.st_mode):
            return "%s: %s where the manifest has a link" % (show(r), _kind(s))
        t = os.readlink(p)
        return (
            None
            if t == m["link"]
            else "link %s: -> %s (manifest) vs -> %s (found)" % (show(r), show(m["link"]), show(t))
        )
    if not S.S_ISREG(s.st_mode):
        return "%s: %s where the manifest has a file" % (show(r), _kind(s))
    if "hardlink" in m:
        f = got.get(m["hardlink"])
        fs = os.lstat(f) if f else None
        if not fs or (fs.st_dev, fs.st_ino) != (s.st_dev, s.st_ino):
            return "%s: not a hard link of %s" % (show(r), show(m["hardlink"]))
    if m.get("sqlite") and "logical" in m:
        # What SQLite reads there, WAL included: an app that opened its restored database may have changed
        # its bytes (journal mode, a checkpoint) without changing one row.
        try:
            logical = sqlite_logical(p)
        except sqlite3.Error as e:
            return "%s: not a sound SQLite database (%s)" % (show(r), e)
        if logical != m["logical"]:
            return "%s: database content differs (read by SQLite)" % show(r)
        return None
    if s.st_size != m["size"]:
        return "%s: size %d (found) vs %d (manifest)" % (show(r), s.st_size, m["size"])
    if "hardlink" not in m and sha256_file(p) != m["sha256"]:  # a hard link's content is its first path's
        return "%s: content differs" % show(r)
    return None


def cmd_verify(manifest_path, name, root, stat_out=None):
    """Every entry of NAME in ROOT matches the manifest (files by sha256, symlinks by target, hard links
    by inode), nothing extra; each SQLite database the manifest marks also by its logical content. With STAT_OUT, the verified files' stat is recorded there, so cutover
    parity can later prove them untouched by stat."""
    core.CTX.reads = (manifest_path, root)
    want = manifest_files(manifest_path, name)
    got = dict(walk(root))
    if stat_out:
        settle_past_ctimes(got.values())
    stats, bad = {}, []
    for r in sorted(want):
        if r not in got:
            bad.append("%s: missing" % show(r))
            continue
        before = stat_record(got[r])
        problem = _verify_one(r, want[r], got[r], got)
        if not problem and stat_record(got[r])[:3] != before[:3]:
            problem = "%s: changed while verified" % show(r)
        if problem:
            bad.append(problem)
        elif "link" not in want[r]:
            stats[r] = before
    bad += ["only in %s: %s" % (show(root), show(r)) for r in sorted(got) if r not in want]
    if bad:
        raise Fail(5, _failed("verify FAILED for %s in %s" % (name, show(root)), bad))
    if stat_out:
        os.makedirs(os.path.dirname(stat_out) or ".", exist_ok=True)
        write_text(partial(stat_out + ".part"), json.dumps(stats))
        os.replace(stat_out + ".part", stat_out)
        complete(stat_out + ".part")
    print(json.dumps({"verified": name, "files": len(want)}))
    return 0


def _parity_kinds(rel, sl, sv, pl, pv, ll, lv):
    """What differs between REL's live and volume entries in kind, link target or hard-link group."""
    if _kind(sl) != _kind(sv):
        return "%s: %s (live) vs %s (volume)" % (show(rel), _kind(sl), _kind(sv))
    if S.S_ISLNK(sl.st_mode):
        tl, tv = os.readlink(pl), os.readlink(pv)
        return None if tl == tv else "link %s: -> %s (live) vs -> %s (volume)" % (show(rel), show(tl), show(tv))
    if ll.get(rel, rel) != lv.get(rel, rel):

        def side(lead):
            return "a hard link of %s" % show(lead) if lead != rel else "its own file"

        return "%s: %s (live) vs %s (volume)" % (show(rel), side(ll.get(rel, rel)), side(lv.get(rel, rel)))
    return None


SAMPLE_FILES = 100  # what one data set's sample compares at most: its cost is per file when they are small


def cmd_parity(manifest_path, name, live, vol, vol_stat, sample_mb="16"):
    """LIVE and VOL hold the same files with the same content. A file is proven equal without
    reading it when stat shows the live file untouched since the backup read it (manifest) and the
    volume's file untouched since the restore verified it (VOL_STAT); both then equal the manifest's
    sha256. Every other file is compared byte for byte; the SQLite databases (dbs.Databases: the rule
    delta uses) page by page, else logically (sqlite.same_database), their -wal/-shm/-journal not as
    files. A deterministic sample of proven files (those that fit in SAMPLE_MB, at most SAMPLE_FILES)
    is compared anyway, so a wrong proof would still be caught: a wrong proof comes from the host (its
    clock, its file system), not from one file. Symlinks are compared by target, never followed;
    hard-link groups must match."""
    core.CTX.reads = (manifest_path, live, vol, vol_stat)
    laps = Laps()
    archive = manifest_archive(manifest_path, name)
    want = archive["files"]
    vstat = json.load(open(vol_stat)) if os.path.exists(vol_stat) else {}
    lf, vf = dict(walk(live)), dict(walk(vol))
    dbs = Databases(archive).among(lf)
    side = sides(dbs)
    lf, vf = ({r: p for r, p in f.items() if r not in side} for f in (lf, vf))
    both = sorted(set(lf) & set(vf))
    lst, vst = {r: os.lstat(lf[r]) for r in both}, {r: os.lstat(vf[r]) for r in both}
    ll, lv = leaders(lst), leaders(vst)
    laps.lap("stat")
    proven, hashed, diff, by_pages = [], 0, [], 0
    for rel in both:
        sl, sv = lst[rel], vst[rel]
        problem = _parity_kinds(rel, sl, sv, lf[rel], vf[rel], ll, lv)
        if problem or not S.S_ISREG(sl.st_mode):
            diff += [problem] if problem else []
            continue
        if rel in dbs:
            laps.lap("hash")
            equal, how = same_database(lf[rel], vf[rel])
            by_pages += how == "pages"
            if not equal:
                diff.append("%s: database content differs" % show(rel))
            laps.lap("databases")
            continue
        m = want.get(rel)
        if m and "sha256" in m and unchanged_since_read(m.get("live"), sl) and unchanged_since_read(vstat.get(rel), sv):
            proven.append(rel)
            continue
        hashed += 1
        if sl.st_size != sv.st_size:
            diff.append("%s: size %d (live) vs %d (volume)" % (show(rel), sl.st_size, sv.st_size))
        elif not same_bytes(lf[rel], vf[rel]):
            diff.append("%s: content differs" % show(rel))
    laps.lap("hash")
    budget, sampled = int(sample_mb) << 20, 0
    for rel in sorted(proven, key=lambda r: (zlib.crc32(fsb(r)), r)):  # spread over the tree, the same every run
        if budget <= 0 or sampled >= SAMPLE_FILES:
            break
        if want[rel]["size"] > budget:  # one file larger than what is left would be most of the work
            continue
        if not same_bytes(lf[rel], vf[rel]):
            diff.append("%s: content differs (caught by the sample: its stat proof was wrong)" % show(rel))
        budget -= want[rel]["size"]
        sampled += 1
    laps.lap("sample")
    diff += ["only in live: %s" % show(r) for r in sorted(set(lf) - set(vf))]
    diff += ["only in volume: %s" % show(r) for r in sorted(set(vf) - set(lf))]
    if diff:
        raise Fail(7, _failed("parity FAILED for %s" % name, diff))
    print(
        json.dumps(
            {
                "parity": name,
                "files": len(lf),
                "proven_by_stat": len(proven),
                "hashed": hashed,
                "sampled": sampled,
                "databases": len(dbs),
                "databases_by_pages": by_pages,
                "ms": laps.ms,
            }
        )
    )
    return 0
