%% @doc Anti-replay windows: for each sender, the greatest message counter accepted and a
%% sliding bitmap of those just below it (RFC 6479's ring of 64-bit blocks, as WireGuard keeps
%% it), in C (c_src/crypto/lt_replay.c).
%%
%% A window of `bits' bits (a power of two, 1024..65536; 8192 by default, WireGuard's size)
%% accepts a counter that is greater than any accepted yet, or one of the `bits - 64' counters
%% below the greatest that was not accepted before. Everything else is refused: `duplicate'
%% (seen, inside the window) or `too_old' (below it: the window no longer knows). Counters are
%% 0..2^64-1; a sender that starts a new key (its counters start again) is {@link forget/2}ed.
%%
%% {@link check/3} looks without changing anything and {@link update/3} marks the counter
%% (checking again): a receiver checks before it verifies a message's MAC and updates only
%% after, so a forged message never moves the window. Two receivers racing on one counter see
%% one `ok' from update. A replay term is a resource shared by every process it is given to
%% (node-local); its calls hold its lock for well under a microsecond and never make a normal
%% scheduler wait for it (a busy lock moves the call to a dirty I/O scheduler).
%%
%% It holds at most `max_senders' senders (4096 by default, up to 2^20; each costs bits/8 +
%% 280 bytes): a new sender past that is refused with `{error, full}' by update.
-module(lattice_replay).

-export([new/0, new/1, check/3, update/3, greatest/2, forget/2, info/1, stats/0]).
-export([format_error/2, error_message/1]).

-type replay() :: reference().
-type sender() :: binary().
%% 1..255 bytes.
-type counter() :: 0..18446744073709551615.
-type opts() :: #{bits => 1024..65536, max_senders => 1..1048576}.
-export_type([replay/0, sender/0, counter/0, opts/0]).

-define(N, lattice_crypto_nif).
-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).

%% @doc A new table of windows with the default options.
-spec new() -> replay().
new() ->
    new(#{}).

%% @doc A new table of windows: `bits' per window (a power of two, 1024..65536, default 8192)
%% and at most `max_senders' senders (default 4096).
-spec new(opts()) -> replay().
new(Opts) ->
    try
        [] = maps:keys(maps:without([bits, max_senders], Opts)),
        ?N:replay_new(maps:get(bits, Opts, 8192), maps:get(max_senders, Opts, 4096))
    catch error:_ -> ?BADARG([Opts])
    end.

%% @doc Whether `Counter' from `Sender' would be accepted: `ok', or `{error, duplicate}' or
%% `{error, too_old}'. Changes nothing.
-spec check(replay(), sender(), counter()) -> ok | {error, duplicate | too_old}.
check(Replay, Sender, Counter) ->
    try ?N:replay_check(Replay, Sender, Counter)
    catch error:badarg -> ?BADARG([Replay, Sender, Counter])
    end.

%% @doc Accepts `Counter' from `Sender' when it is new: `ok'; else refuses it as
%% {@link check/3} would, changing nothing, or with `{error, full}' for a new sender when the
%% table holds `max_senders'.
-spec update(replay(), sender(), counter()) -> ok | {error, duplicate | too_old | full}.
update(Replay, Sender, Counter) ->
    try ?N:replay_update(Replay, Sender, Counter)
    catch error:badarg -> ?BADARG([Replay, Sender, Counter])
    end.

%% @doc The greatest counter accepted from `Sender', or `none'.
-spec greatest(replay(), sender()) -> {ok, counter()} | none.
greatest(Replay, Sender) ->
    try ?N:replay_greatest(Replay, Sender)
    catch error:badarg -> ?BADARG([Replay, Sender])
    end.

%% @doc Drops `Sender''s window (its counters may start again); whether it had one.
-spec forget(replay(), sender()) -> boolean().
forget(Replay, Sender) ->
    try ?N:replay_forget(Replay, Sender)
    catch error:badarg -> ?BADARG([Replay, Sender])
    end.

%% @doc The table's sizes and counters: `bits', `window' (the counters accepted below the
%% greatest, bits - 64), `senders', `max_senders', `checks', `updates', `accepted',
%% `duplicates', `too_old', `full'.
-spec info(replay()) -> #{atom() => non_neg_integer()}.
info(Replay) ->
    try ?N:replay_info(Replay)
    catch error:badarg -> ?BADARG([Replay])
    end.

%% @doc The node's replay counters over every table: `checks', `updates', `accepted',
%% `duplicates', `too_old', `full', `lock_busy' (calls that found the lock taken and moved to a
%% dirty I/O scheduler).
-spec stats() -> #{atom() => non_neg_integer()}.
stats() ->
    S = lattice_crypto:stats(),
    maps:from_list([{K, maps:get(list_to_atom("replay_" ++ atom_to_list(K)), S, 0)}
                    || K <- [checks, updates, accepted, duplicates, too_old, full, lock_busy]]).

%% ---- explaining badarg -------------------------------------------------------------------

%% @doc The OTP `error_info' callback (see lattice_error).
-spec format_error(term(), erlang:stacktrace()) -> #{pos_integer() | general => string()}.
format_error(badarg, [{?MODULE, F, Args, _} | _]) when is_list(Args) ->
    explain(F, Args);
format_error(_, _) ->
    #{}.

%% @doc The explanation as one line, for the Elixir facade's `ArgumentError'.
-spec error_message(erlang:stacktrace()) -> binary() | undefined.
error_message(Stack) ->
    lattice_error:message(?MODULE, Stack, fun explain/2).

explain(F, Args) ->
    lattice_error:explain(?MODULE, F, Args, checks(F, Args)).

checks(new, [Opts]) ->
    [{1, fun() -> opts(Opts) end}];
checks(_, [Replay | Rest]) ->
    [{1, fun() -> replay(Replay) end}
     | case Rest of
           [] -> [];
           [Sender | More] ->
               [{2, fun() -> lattice_proto:binary_between("the sender", Sender, 1, 255) end}
                | [{3, fun() -> lattice_proto:int_range("the counter", C, 0, 1 bsl 64 - 1, "")
                       end} || C <- More]]
       end].

opts(Opts) ->
    case lattice_proto:map_keys("the options", Opts, [bits, max_senders]) of
        ok ->
            Bits = maps:get(bits, Opts, 8192),
            Max = maps:get(max_senders, Opts, 4096),
            case lists:member(Bits, [1 bsl K || K <- lists:seq(10, 16)]) of
                false ->
                    {error, lattice_proto:fmt("bits must be a power of two in 1024..65536, "
                                              "got: ~tp", [Bits])};
                true ->
                    lattice_proto:pos_int("max_senders", Max, 1 bsl 20)
            end;
        E ->
            E
    end.

replay(R) ->
    try ?N:replay_info(R) of
        #{} -> ok
    catch error:badarg ->
            {error, lattice_proto:fmt("the replay table must be one made by lattice_replay:new/0,1 "
                                      "on this node, got: ~tp", [R])}
    end.
