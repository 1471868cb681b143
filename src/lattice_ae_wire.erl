%% @private
%% @doc The owner side of the C node's owner protocol (docs/CNODE.md, protocol 3): the terms
%% `lattice_ae' sends to its C node and the shapes of what comes back. Every term of the
%% protocol is built or matched here and nowhere else, so a new protocol version changes this
%% module only.
-module(lattice_ae_wire).

-export([open/2, drop/1, clear/1, update/2, root/1, sync/2, stats/0, set_limits/1]).
-export([set_peer_key/3, clear_peer_key/2, require_keys/2]).
-export([batch_new/0, batch_add/2, pack/4, batch_overhead/1, max_packet/0]).
-export([root_reply/1, notification/1]).

%% The C node's default max_packet: the largest distribution packet it reads.
-define(MAX_PACKET, 1048576).
%% Room for a packet's envelope beside the batch: length, distribution header, the control
%% message (REG_SEND with our pid and the name), the request tuple, the pid, the ref, the store.
-define(ENVELOPE, 512).
-define(BATCH_V1, 1).
-define(PUT, 1).
-define(DELETE, 2).

%% A request is sent as {Op, FromPid, Ref}; the reply comes as {lattice_cnode, Ref, Reply}.

%% Opens (or re-opens, keeping its contents) Store; session reports go to the sender.
-spec open(binary(), 1..6) -> term().
open(Store, Levels) ->
    {open, Store, Levels}.

%% Empties the store's tree, keeping its levels.
-spec clear(binary()) -> term().
clear(Store) ->
    {clear, Store}.

-spec drop(binary()) -> term().
drop(Store) ->
    {drop, Store}.

%% One update batch (batch_new/0, batch_add/2).
-spec update(binary(), binary()) -> term().
update(Store, Batch) ->
    {update, Store, Batch}.

-spec root(binary()) -> term().
root(Store) ->
    {root, Store}.

-spec sync(binary(), node()) -> term().
sync(Store, PeerCNode) ->
    {sync, Store, PeerCNode}.

%% Protocol 3: the key that seals the store's sessions with the C node PeerCNode.
-spec set_peer_key(binary(), node(), <<_:256>>) -> term().
set_peer_key(Store, PeerCNode, Key) ->
    {set_peer_key, Store, PeerCNode, Key}.

-spec clear_peer_key(binary(), node()) -> term().
clear_peer_key(Store, PeerCNode) ->
    {clear_peer_key, Store, PeerCNode}.

%% Protocol 3: whether the store's sessions with a C node without a key are refused.
-spec require_keys(binary(), boolean()) -> term().
require_keys(Store, Require) ->
    {require_keys, Store, Require}.

-spec stats() -> term().
stats() ->
    stats.

-spec set_limits(#{atom() => integer()}) -> term().
set_limits(Limits) ->
    {set_limits, Limits}.

%% An empty update batch: the version byte.
-spec batch_new() -> binary().
batch_new() ->
    <<?BATCH_V1>>.

%% Appends an entry to a batch: <<1, KeyLen:16, Key, Digest:16/binary>> (put) or
%% <<2, KeyLen:16, Key>> (delete). Appending in a loop builds the binary in place.
-spec batch_add(binary(), {binary(), binary() | delete}) -> binary().
batch_add(Batch, {Key, delete}) ->
    <<Batch/binary, ?DELETE, (byte_size(Key)):16, Key/binary>>;
batch_add(Batch, {Key, Digest}) ->
    <<Batch/binary, ?PUT, (byte_size(Key)):16, Key/binary, Digest:16/binary>>.

%% Appends Changes to the batch Acc (holding N entries), filling batches of at most Max bytes:
%% {FullBatches (in order), LastBatch, EntriesInLast}. A batch always takes at least one entry.
-spec pack([{binary(), binary() | delete}], binary(), non_neg_integer(), pos_integer()) ->
    {[binary()], binary(), non_neg_integer()}.
pack(Changes, Acc, N, Max) ->
    pack(Changes, Acc, N, Max, []).

pack([], Acc, N, _Max, Full) ->
    {lists:reverse(Full), Acc, N};
pack([C | Rest], Acc, N, Max, Full) ->
    Acc1 = batch_add(Acc, C),
    case byte_size(Acc1) > Max andalso N > 0 of
        true ->
            %% C goes in the next batch; Acc (without it) is full.
            pack(Rest, batch_add(batch_new(), C), 1, Max, [Acc | Full]);
        false ->
            pack(Rest, Acc1, N + 1, Max, Full)
    end.

%% Bytes of an update packet beside its entries.
-spec batch_overhead(binary()) -> pos_integer().
batch_overhead(Store) ->
    ?ENVELOPE + byte_size(Store).

-spec max_packet() -> pos_integer().
max_packet() ->
    ?MAX_PACKET.

%% The reply to {root, Store}.
-spec root_reply(term()) -> {ok, #{hash := binary(), count := non_neg_integer()}} | {error, term()}.
root_reply({ok, Hash, Count}) when is_binary(Hash), is_integer(Count) ->
    {ok, #{hash => Hash, count => Count}};
root_reply({error, _} = Error) ->
    Error;
root_reply(Other) ->
    {error, {unexpected_reply, Other}}.

%% A message the C node sends on its own (not a reply): {session, Store, Report} or ignore.
-spec notification(term()) -> {session, binary(), map()} | ignore.
notification({lattice_cnode, session, Store, Report}) when is_binary(Store), is_map(Report) ->
    {session, Store, Report};
notification(_) ->
    ignore.
