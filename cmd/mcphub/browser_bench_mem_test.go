package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// chromiumPSS sums the proportional set size (Pss in /proc/PID/smaps_rollup) of the Chromium
// processes under root: root's descendants, and root itself when it is Chromium (raw
// chromedp's root is the browser; mcphub's and playwright-mcp's is their own process, left
// out). PSS splits shared pages among the processes sharing them, so the sum over a browser's
// processes counts each page once. It returns KiB and the number of processes summed.
func chromiumPSS(root int) (kib int64, procs int, err error) {
	children, comm, err := processTree()
	if err != nil {
		return 0, 0, err
	}
	var pids []int
	if isChromium(comm[root]) {
		pids = append(pids, root)
	}
	queue := slices.Clone(children[root])
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		pids = append(pids, pid)
		queue = append(queue, children[pid]...)
	}
	for _, pid := range pids {
		if !isChromium(comm[pid]) {
			continue
		}
		v, err := pssKiB(pid)
		if err != nil {
			continue // the process exited between the scan and the read
		}
		kib += v
		procs++
	}
	if procs == 0 {
		return 0, 0, fmt.Errorf("no Chromium process under pid %d", root)
	}
	return kib, procs, nil
}

// isChromium recognises Chromium's processes by their comm (the binary is "chromium",
// Chrome's "chrome"; helpers such as chrome_crashpad_handler are Chromium's too).
func isChromium(comm string) bool {
	return strings.Contains(comm, "chrom")
}

// processTree reads /proc: each process's children and its comm.
func processTree() (children map[int][]int, comm map[int]string, err error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, nil, err
	}
	children, comm = map[int][]int{}, map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		name, ppid, ok := parseStat(stat)
		if !ok {
			continue
		}
		comm[pid] = name
		children[ppid] = append(children[ppid], pid)
	}
	return children, comm, nil
}

// parseStat reads comm and ppid from /proc/PID/stat: "pid (comm) state ppid ...", where comm
// may hold spaces and parentheses, so it is everything up to the last ')'.
func parseStat(stat []byte) (comm string, ppid int, ok bool) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return "", 0, false
	}
	return string(stat[open+1 : end]), ppid, true
}

// pssKiB reads the Pss line of /proc/PID/smaps_rollup.
func pssKiB(pid int) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
			return parseKB(rest)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid %d: no Pss in smaps_rollup", pid)
}

// parseKB parses "   1234 kB".
func parseKB(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("unexpected smaps_rollup value %q", s)
	}
	return strconv.ParseInt(f[0], 10, 64)
}
