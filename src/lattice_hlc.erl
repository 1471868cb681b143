%% @doc Hybrid logical clock (Kulkarni et al., 2014), one per node.
%%
%% A timestamp is a non-negative integer: the physical time in milliseconds since the Unix
%% epoch shifted left 16 bits, plus a 16-bit logical counter. Integer order is causal order,
%% so timestamps compare with `<' and sort as integers. The clock is held in the NIF and
%% advanced atomically from any process: `now/0' never returns the same timestamp twice on a
%% node and never goes back, even when the wall clock steps back.
%%
%% `update/1' folds in a timestamp received from another node. A timestamp whose physical
%% part is more than the maximum offset (application env `hlc_max_offset_ms', default 500)
%% ahead of this node's wall clock is refused with `{error, {clock_skew, Ms}}' and does not
%% move the clock, so one node with a broken clock cannot drag the cluster into the future.
%%
%% `pure_now/2' and `pure_update/4' are the same rules as functions of their inputs.
%%
%% Wrong types and out-of-range values (a negative time, a timestamp of 2^64 or more, a
%% physical time of 2^48 ms or more) raise `badarg'.
-module(lattice_hlc).

-include("lattice_error.hrl").

-export([now/0, update/1, peek/0, compare/2, physical/1, logical/1, make/2,
         from_physical/1, to_system_time/2, max_offset/0, set_max_offset/1,
         pure_now/2, pure_update/4]).

-type timestamp() :: non_neg_integer().
-export_type([timestamp/0]).

-define(LOGICAL_BITS, 16).
-define(LOGICAL_MASK, 16#FFFF).
-define(MAX_PHYSICAL, (1 bsl 48 - 1)).
-define(IS_TS(T), (is_integer(T) andalso T >= 0 andalso T < 1 bsl 64)).

%% @doc A new timestamp, greater than any this node has handed out or received.
-spec now() -> timestamp().
now() ->
    lattice_nif:hlc_now().

%% @doc Receives a remote timestamp: the clock moves past it and the new timestamp is
%% returned, unless the remote clock is too far ahead.
-spec update(timestamp()) -> {ok, timestamp()} | {error, {clock_skew, non_neg_integer()}}.
update(Remote) ->
    try lattice_nif:hlc_update(Remote) catch error:badarg -> ?BADARG([Remote]) end.

%% @doc The last timestamp handed out (0 before the first), without advancing the clock.
-spec peek() -> timestamp().
peek() ->
    lattice_nif:hlc_peek().

-spec compare(timestamp(), timestamp()) -> lt | eq | gt.
compare(A, B) when ?IS_TS(A), ?IS_TS(B) ->
    if
        A < B -> lt;
        A > B -> gt;
        true -> eq
    end;
compare(A, B) ->
    ?BADARG([A, B]).

%% @doc The physical part: milliseconds since the Unix epoch.
-spec physical(timestamp()) -> non_neg_integer().
physical(Ts) when ?IS_TS(Ts) ->
    Ts bsr ?LOGICAL_BITS;
physical(Ts) ->
    ?BADARG([Ts]).

%% @doc The logical counter.
-spec logical(timestamp()) -> 0..65535.
logical(Ts) when ?IS_TS(Ts) ->
    Ts band ?LOGICAL_MASK;
logical(Ts) ->
    ?BADARG([Ts]).

%% @doc The timestamp for a physical time (ms since the epoch, below 2^48) and a counter.
-spec make(non_neg_integer(), 0..65535) -> timestamp().
make(PhysicalMs, Logical) when is_integer(PhysicalMs), PhysicalMs >= 0,
                               PhysicalMs =< ?MAX_PHYSICAL,
                               is_integer(Logical), Logical >= 0, Logical =< ?LOGICAL_MASK ->
    (PhysicalMs bsl ?LOGICAL_BITS) bor Logical;
make(PhysicalMs, Logical) ->
    ?BADARG([PhysicalMs, Logical]).

%% @doc The smallest timestamp at a physical time (logical 0): handy for "everything since".
-spec from_physical(non_neg_integer()) -> timestamp().
from_physical(PhysicalMs) ->
    make(PhysicalMs, 0).

%% @doc The physical part in `erlang:time_unit()' (as `erlang:system_time/1' counts).
-spec to_system_time(timestamp(), erlang:time_unit()) -> integer().
to_system_time(Ts, Unit) ->
    erlang:convert_time_unit(physical(Ts), millisecond, Unit).

-spec max_offset() -> non_neg_integer().
max_offset() ->
    lattice_nif:hlc_max_offset().

%% @doc Sets how far ahead (ms) a remote timestamp may be before `update/1' refuses it.
-spec set_max_offset(non_neg_integer()) -> ok.
set_max_offset(Ms) ->
    lattice_nif:hlc_set_max_offset(Ms).

%% @doc The timestamp after `Last' at wall-clock time `PhysicalMs'.
-spec pure_now(timestamp(), non_neg_integer()) -> timestamp().
pure_now(Last, PhysicalMs) ->
    lattice_nif:hlc_tick(Last, PhysicalMs).

%% @doc The timestamp after `Last' on receiving `Remote' at wall-clock time `PhysicalMs'.
-spec pure_update(timestamp(), timestamp(), non_neg_integer(), non_neg_integer()) ->
          {ok, timestamp()} | {error, {clock_skew, non_neg_integer()}}.
pure_update(Last, Remote, PhysicalMs, MaxOffsetMs) ->
    lattice_nif:hlc_receive(Last, Remote, PhysicalMs, MaxOffsetMs).
