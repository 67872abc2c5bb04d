# Declarations for the compiled build (`python -m sim.compile build`; Python ignores this file):
# the classes below become extension types whose attributes are fields, which their own methods
# read and write without a dictionary look-up. Every attribute a class sets is declared here
# (`public`: other modules read them as before); `__dict__` keeps instances open to attributes
# set from outside, as tests do. No cimport: each .pxd declares its own module only, so a module
# compiles alone. Editing this file makes its module stale until the next build (sim.native).

cdef class Appliance:
    cdef public object capacity_bytes, name, peak_used_bytes, transfer_slots, used_bytes, volumes
    cdef dict __dict__

cdef class PcpiIds:
    cdef public object _next
    cdef dict __dict__

cdef class Volume:
    cdef public object name, appliance, size_bytes, writable, change_rate_bps, change_cv, rng, pcpis, arrived_s
    cdef public object by_label, cum_changed_bytes, _rate_bps, _interval_start_s, locks, incoming, outgoing
    cdef public object failed_writes, failed_write_bytes, autodelete_commitment, autodelete_trigger_bytes
    cdef public object autodelete_target_bytes, reading, _deferred, _services, bookmarks
    cdef dict __dict__
