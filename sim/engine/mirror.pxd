# Declarations for the compiled build (`python -m sim.compile build`; Python ignores this file):
# the classes below become extension types whose attributes are fields, which their own methods
# read and write without a dictionary look-up. Every attribute a class sets is declared here
# (`public`: other modules read them as before); `__dict__` keeps instances open to attributes
# set from outside, as tests do. No cimport: each .pxd declares its own module only, so a module
# compiles alone. Editing this file makes its module stale until the next build (sim.native).

cdef class MirrorRelationship:
    cdef public object _cycle, _retired, _source_removed, _update_process, _waiting, base, baselined, busy, defunct
    cdef public object destination, destination_name, env, firings, former_sources, in_flight_image, index, kind
    cdef public object mirror_pcpis, name, name_filter, on_break, qtree_share, retention, retire_at_s, services
    cdef public object source, source_name, throttle_bps, transfer, transfer_reads, transfer_started_s, updates_completed
    cdef dict __dict__
