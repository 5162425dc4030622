"""Helpers shared by scripts/bench and scripts/bench-batch: division names, messy query
spellings of registered addresses, and running `yizhitong serve` in a scratch directory.

Standard library only.
"""

import gzip
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
DIGITS = "零一二三四五六七八九"
# Words people leave in an address field: directions, delivery notes, labels.
STRAY_WORDS = ["附近", "旁边", "对面", "（快递柜）", "门口"]
STRAY_PREFIXES = ["收货地址：", "地址:", "住址 "]


def log(message):
    print(message, file=sys.stderr, flush=True)


def division_names(path, wanted):
    """code -> [(name, short_name, parent_code)] from the province down, for `wanted`."""
    rows = {}
    with gzip.open(path, "rt", encoding="utf-8") as divisions:
        for line in divisions:
            cells = line.rstrip("\n").split("\t")
            if len(cells) < 5 or not cells[0].isdigit():
                continue
            rows[cells[0]] = (cells[1], cells[4] or cells[1], cells[3])
    chains = {}
    for code in wanted:
        chain, current = [], code
        while current in rows:
            chain.append(rows[current])
            current = rows[current][2]
        chains[code] = list(reversed(chain))
    return chains


def chinese_number(number):
    """12 -> 十二, 103 -> 一百零三, 2005 -> 二千零五 (1 to 9999)."""
    if number < 10:
        return DIGITS[number]
    units = [(1000, "千"), (100, "百"), (10, "十")]
    text, pending_zero = "", False
    for value, unit in units:
        digit = number // value % 10
        if digit:
            if pending_zero:
                text += "零"
            if not (value == 10 and digit == 1 and not text):
                text += DIGITS[digit]
            text += unit
            pending_zero = False
        elif text:
            pending_zero = True
    last = number % 10
    if last:
        text += ("零" if pending_zero else "") + DIGITS[last]
    return text


def spell_number_in_chinese(part):
    """`12号` -> `十二号`; anything that is not digits and a suffix is left alone."""
    digits = part.rstrip("号幢单元层室弄")
    if digits.isdigit() and 0 < int(digits) < 10000:
        return chinese_number(int(digits)) + part[len(digits):]
    return part


def messy_query(rng, record, chain):
    """One free-text spelling of a registered address, as clerks and customers type
    them: levels dropped from the division prefix, short names, Chinese numerals in a
    number, 栋 for 幢, full-width digits, and stray words."""
    names = [name for name, _, _ in chain if name != "市辖区"]
    shorts = [short for _, short, _ in chain if short != "市辖区"]
    cut = rng.choice(["full", "county", "city", "town"])
    if cut == "full":
        prefix = "".join(names)
    elif cut == "city":
        prefix = "".join(shorts[1:3]) if len(shorts) >= 3 else "".join(shorts)
    elif cut == "county":
        prefix = "".join(names[2:])
    else:
        prefix = "".join(names[3:])
    parts = [record[field] for field in
             ("road", "road_no", "place", "building", "unit", "floor", "room")]
    if rng.random() < 0.2:
        numbered = [index for index, part in enumerate(parts) if part[:1].isdigit()]
        if numbered:
            index = rng.choice(numbered)
            parts[index] = spell_number_in_chinese(parts[index])
    body = "".join(parts)
    if rng.random() < 0.3:
        body = body.replace("幢", "栋")
    if rng.random() < 0.15:
        body = body.translate(FULL_WIDTH)
    text = prefix + body
    if rng.random() < 0.1:
        text += rng.choice(STRAY_WORDS)
    if rng.random() < 0.05:
        text = rng.choice(STRAY_PREFIXES) + text
    return text


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proc_status_kib(pid, field):
    """A memory figure (VmRSS, VmHWM, ...) of a running process in KiB, or None."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def start_server(binary, environment, log_path, timeout=300):
    """Starts `yizhitong serve` on a free port; returns (process, base URL, seconds until
    /healthz answered)."""
    port = free_port()
    started = time.monotonic()
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}"],
                              env=environment, stdout=subprocess.DEVNULL,
                              stderr=open(log_path, "a"))
    base = f"http://127.0.0.1:{port}"
    deadline = started + timeout
    while True:
        if server.poll() is not None:
            sys.exit(f"serve exited with {server.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return server, base, time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.kill()
            sys.exit(f"serve did not become healthy within {timeout} s; see {log_path}")
        time.sleep(0.05)


def stop_server(server):
    if server is not None and server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
