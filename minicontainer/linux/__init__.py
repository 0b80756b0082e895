"""The syscall seam: every step the kernel sees goes through this package.

Only the standard library and ctypes are used here, and nothing is done at
import time beyond loading libc.
"""
