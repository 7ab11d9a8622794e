// shmcp channel: a named shared-memory segment (DIR/shmcp.NAME, DIR = /dev/shm unless both sides
// mount another directory) holding many lanes, each a request ring and a response ring, between
// one executor and many clients.
//
// Ownership without pids: the executor holds an OFD write lock on byte 0 of the segment file (its
// lease) and each client holds an OFD write lock on byte 1 + lane. OFD locks belong to an open file
// description, not a process, so they work across PID namespaces (both sides may be pid 1) and the
// kernel drops them when the holder dies. "Is my peer alive?" is an F_OFD_GETLK away.
//
// Threading: a Segment may be shared by many threads. A ClientLane is used by one thread at a
// time. A ServerEndpoint belongs to one (single-threaded) worker process.
//
// The channel's three parts: segment.hpp (the segment, its leases and the truncation guard),
// client_lane.hpp (a client thread's lane) and server_endpoint.hpp (a worker's endpoint and the
// supervisor's lane repairs).
#pragma once

#include "channel/client_lane.hpp"
#include "channel/segment.hpp"
#include "channel/server_endpoint.hpp"
