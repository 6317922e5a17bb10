"""Prints the bytes a process could be charged for under
vm.overcommit_memory = 2: the sizes of its private writable mappings that
no file backs (anonymous memory, reserved without commit charge or not).
Usage: commit_charge.py PID"""
import sys


def chargeable(pid):
    total = 0
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            perms, inode = fields[1], fields[4]
            if "w" in perms and "p" in perms and inode == "0":
                total += end - start
    return total


if __name__ == "__main__":
    print(chargeable(sys.argv[1]))
