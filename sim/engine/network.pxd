# Declarations for the compiled build (`python -m sim.compile build`; Python ignores this file):
# the classes below become extension types whose attributes are fields, which their own methods
# read and write without a dictionary look-up. Every attribute a class sets is declared here
# (`public`: other modules read them as before); `__dict__` keeps instances open to attributes
# set from outside, as tests do. No cimport: each .pxd declares its own module only, so a module
# compiles alone. Editing this file makes its module stale until the next build (sim.native).

cdef class Link:
    cdef public object _since_s, _up_event, bandwidth_bps, busy_s, bytes_carried, capacity_bps, down_count, down_s
    cdef public object down_since_s, flows, index, latency_s, name, outages, peak_rate_bps, rate_bps, rate_integral
    cdef dict __dict__

cdef class Flow:
    cdef public object cap_bps, done, last_s, links, rate_bps, remaining_bytes, size_bytes, version
    cdef dict __dict__

cdef class Network:
    cdef public object _by_ends, _down_appliances, _epochs, _nodes, _paths, env, links, plan
    cdef dict __dict__
