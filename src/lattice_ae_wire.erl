%% @private
%% @doc The owner side of the C node's owner protocol (docs/CNODE.md, protocol 2): the terms
%% `lattice_ae' sends to its C node and the shapes of what comes back. Every term of the
%% protocol is built or matched here and nowhere else, so a new protocol version changes this
%% module only.
-module(lattice_ae_wire).

-export([open/2, drop/1, update/1, root/1, sync/2, stats/0, set_limits/1]).
-export([entry_bytes/1, batch_overhead/1, max_packet/0, encode_entry/1]).
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

-spec drop(binary()) -> term().
drop(Store) ->
    {drop, Store}.

%% One batch, a list of encoded entries (encode_entry/1), in order.
-spec update({binary(), [binary()]}) -> term().
update({Store, Encoded}) ->
    {update, Store, iolist_to_binary([?BATCH_V1 | Encoded])}.

-spec root(binary()) -> term().
root(Store) ->
    {root, Store}.

-spec sync(binary(), node()) -> term().
sync(Store, PeerCNode) ->
    {sync, Store, PeerCNode}.

-spec stats() -> term().
stats() ->
    stats.

-spec set_limits(#{atom() => integer()}) -> term().
set_limits(Limits) ->
    {set_limits, Limits}.

%% An entry of an update batch: <<1, KeyLen:16, Key, Digest:16/binary>> or <<2, KeyLen:16, Key>>.
-spec encode_entry({binary(), binary() | delete}) -> binary().
encode_entry({Key, delete}) ->
    <<?DELETE, (byte_size(Key)):16, Key/binary>>;
encode_entry({Key, Digest}) ->
    <<?PUT, (byte_size(Key)):16, Key/binary, Digest:16/binary>>.

%% Bytes one entry takes in a batch.
-spec entry_bytes({binary(), binary() | delete}) -> pos_integer().
entry_bytes({Key, delete}) -> 3 + byte_size(Key);
entry_bytes({Key, _Digest}) -> 3 + byte_size(Key) + 16.

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
