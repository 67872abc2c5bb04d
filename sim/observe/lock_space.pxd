# Declarations for the compiled build (`python -m sim.compile build`; Python ignores this file):
# the classes below become extension types whose attributes are fields, which their own methods
# read and write without a dictionary look-up. Every attribute a class sets is declared here
# (`public`: other modules read them as before); `__dict__` keeps instances open to attributes
# set from outside, as tests do. No cimport: each .pxd declares its own module only, so a module
# compiles alone. Editing this file makes its module stale until the next build (sim.native).

cdef class LockSpaceMeter:
    cdef public object _head, _held, _images, _last_kind, _mirror_label, _retention, _rotated, _span, _vetoed
    cdef public object dirty, hold_levels, lock_levels, total_hold, total_lock, trace
    cdef dict __dict__
