#!/usr/bin/env python3
"""units_check.py - a key/section sanity check of sekisho's systemd units.

    units_check.py DIR

Parses every *.service / *.timer in DIR (sections, key=value, comments,
backslash continuations) and checks: only known sections, no duplicate
single-valued keys, every key known for its section (a list of the keys
these units may use), and the sandboxing the units must keep (issue 5):
gatewayd's capability set is exactly CAP_NET_ADMIN CAP_NET_RAW, relayd's
exactly CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID CAP_SYS_ADMIN CAP_CHOWN,
ProtectSystem=strict, NoNewPrivileges=yes, a SystemCallFilter, journald
output, and the timer runs sekisho-status.service every minute.
Exit 0 or 1 with one line per problem.
"""
import os
import sys

SECTIONS = {
    'Unit': {'Description', 'Documentation', 'Wants', 'Requires', 'Before', 'After',
             'ConditionPathExists', 'PartOf'},
    'Install': {'WantedBy', 'RequiredBy', 'Alias', 'Also'},
    'Timer': {'OnBootSec', 'OnUnitActiveSec', 'OnCalendar', 'AccuracySec', 'Unit',
              'Persistent', 'RandomizedDelaySec'},
    'Service': {
        'Type', 'ExecStartPre', 'ExecStart', 'ExecReload', 'ExecStop', 'Restart', 'RestartSec',
        'TimeoutStopSec', 'KillMode', 'StandardOutput', 'StandardError', 'SyslogIdentifier',
        'CapabilityBoundingSet', 'AmbientCapabilities', 'NoNewPrivileges', 'SecureBits',
        'ProtectSystem', 'ReadWritePaths', 'ReadOnlyPaths', 'StateDirectory',
        'StateDirectoryMode', 'LogsDirectory', 'LogsDirectoryMode', 'RuntimeDirectory',
        'RuntimeDirectoryMode', 'RuntimeDirectoryPreserve', 'ProtectHome', 'PrivateTmp',
        'PrivateDevices', 'ProtectKernelModules', 'ProtectKernelLogs', 'ProtectKernelTunables',
        'ProtectControlGroups', 'ProtectClock', 'ProtectHostname', 'ProtectProc',
        'RestrictNamespaces', 'RestrictRealtime', 'RestrictSUIDSGID', 'LockPersonality',
        'MemoryDenyWriteExecute', 'RemoveIPC', 'UMask', 'RestrictAddressFamilies',
        'SystemCallArchitectures', 'SystemCallFilter', 'SystemCallErrorNumber', 'User', 'Group',
    },
}
MULTI = {'ExecStartPre', 'ReadWritePaths', 'SystemCallFilter', 'Documentation', 'After',
         'Before', 'Wants', 'WantedBy', 'CapabilityBoundingSet', 'RestrictAddressFamilies'}


def parse(path, errs):
    units = {}
    sec = None
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    i = 0
    while i < len(lines):
        n = i + 1
        line = lines[i].rstrip()
        while line.endswith('\\') and i + 1 < len(lines):
            i += 1
            line = line[:-1] + ' ' + lines[i].strip()
        i += 1
        s = line.strip()
        if not s or s[0] in '#;':
            continue
        if s.startswith('['):
            if not s.endswith(']'):
                errs.append(f'{path}:{n}: bad section line')
                continue
            sec = s[1:-1]
            if sec not in SECTIONS:
                errs.append(f'{path}:{n}: unknown section [{sec}]')
            units.setdefault(sec, {})
            continue
        if '=' not in s:
            errs.append(f'{path}:{n}: not key=value: {s!r}')
            continue
        if sec is None:
            errs.append(f'{path}:{n}: key outside a section')
            continue
        k, v = s.split('=', 1)
        k = k.strip()
        v = v.strip()
        if sec in SECTIONS and k not in SECTIONS[sec]:
            errs.append(f'{path}:{n}: unknown key {k} in [{sec}]')
        d = units[sec]
        if k in d and k not in MULTI:
            errs.append(f'{path}:{n}: {k} given twice')
        d.setdefault(k, []).append(v)
    return units


def get(u, sec, key):
    return ' '.join(u.get(sec, {}).get(key, []))


def main():
    d = sys.argv[1]
    errs = []
    units = {}
    for name in sorted(os.listdir(d)):
        if name.endswith(('.service', '.timer')):
            units[name] = parse(os.path.join(d, name), errs)
    want = ['sekisho-gatewayd.service', 'sekisho-relayd.service', 'sekisho-status.service',
            'sekisho-status.timer']
    for w in want:
        if w not in units:
            errs.append(f'missing {w}')
    if errs:
        print('\n'.join(errs))
        return 1
    caps = {
        'sekisho-gatewayd.service': {'CAP_NET_ADMIN', 'CAP_NET_RAW'},
        'sekisho-relayd.service': {'CAP_NET_BIND_SERVICE', 'CAP_SETUID', 'CAP_SETGID',
                                   'CAP_SYS_ADMIN', 'CAP_CHOWN'},
        'sekisho-status.service': {'CAP_NET_ADMIN'},
    }
    for name, c in caps.items():
        u = units[name]
        got = set(get(u, 'Service', 'CapabilityBoundingSet').split())
        if got != c:
            errs.append(f'{name}: CapabilityBoundingSet {sorted(got)}, expected {sorted(c)}')
        if get(u, 'Service', 'AmbientCapabilities'):
            errs.append(f'{name}: ambient capabilities are not needed (runs as root)')
        for k, v in (('ProtectSystem', 'strict'), ('NoNewPrivileges', 'yes'),
                     ('PrivateTmp', 'yes'), ('ProtectHome', 'yes'),
                     ('StandardOutput', 'journal'), ('StandardError', 'journal')):
            if get(u, 'Service', k) != v:
                errs.append(f'{name}: {k}={get(u, "Service", k)!r}, expected {v}')
        if '@system-service' not in get(u, 'Service', 'SystemCallFilter'):
            errs.append(f'{name}: no SystemCallFilter=@system-service')
        if not get(u, 'Service', 'RestrictAddressFamilies'):
            errs.append(f'{name}: no RestrictAddressFamilies')
    g = units['sekisho-gatewayd.service']
    fam = set(get(g, 'Service', 'RestrictAddressFamilies').split())
    if fam != {'AF_NETLINK', 'AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_PACKET'}:
        errs.append(f'gatewayd: RestrictAddressFamilies {sorted(fam)}')
    rw = get(g, 'Service', 'ReadWritePaths').split()
    for p in ('/var/lib/sekisho', '/var/log/sekisho'):
        if p not in rw:
            errs.append(f'gatewayd: {p} not in ReadWritePaths')
    r = units['sekisho-relayd.service']
    if get(r, 'Service', 'ExecStartPre') != '/usr/sbin/sekisho-relayd -n':
        errs.append('relayd: ExecStartPre is not the configuration check')
    if get(r, 'Service', 'Restart') != 'on-failure':
        errs.append('relayd: Restart is not on-failure')
    if 'AF_NETLINK' in get(r, 'Service', 'RestrictAddressFamilies'):
        errs.append('relayd: needs no netlink')
    if get(r, 'Service', 'RestrictNamespaces'):
        errs.append('relayd: RestrictNamespaces would stop the workers\' unshare')
    if '/var/lib/sekisho/quarantine' not in get(r, 'Service', 'ReadWritePaths'):
        errs.append('relayd: the quarantine is not writable')
    t = units['sekisho-status.timer']
    if get(t, 'Timer', 'OnUnitActiveSec') != '1min' or get(t, 'Timer', 'Unit') != 'sekisho-status.service':
        errs.append('timer: not every minute for sekisho-status.service')
    s = units['sekisho-status.service']
    if '--prometheus' not in get(s, 'Service', 'ExecStart'):
        errs.append('sekisho-status.service does not write the metrics')
    print('\n'.join(errs) if errs else f'{len(units)} units ok')
    return 1 if errs else 0


if __name__ == '__main__':
    sys.exit(main())
