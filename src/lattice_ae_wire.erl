%% @private
%% @doc The owner side of the C node's owner protocol (docs/CNODE.md): the terms `lattice_ae'
%% sends to its C node and the shapes of what comes back. Every term of the protocol is built
%% or matched here and nowhere else, so a new protocol version changes this module only.
-module(lattice_ae_wire).

-export([open/3, close/1, leaves/2, root/1, sync/3, stats/0]).
-export([entry_bytes/1, batch_overhead/1, max_message/0]).
-export([reply/2, notification/1]).

-define(MAX_MSG, 1048576).

%% A request is sent as {Op, FromPid, Ref}; the reply comes as {lattice_cnode, Ref, Reply}.

%% Opens (or re-opens) Store on the C node; notifications for it go to the sender.
-spec open(binary(), pos_integer(), map()) -> term().
open(Store, Levels, _Opts) ->
    {open, Store, Levels}.

-spec close(binary()) -> term().
close(Store) ->
    {close, Store}.

%% Entries: [{Key, Digest} | {Key, delete}], Key a binary, Digest 16 bytes.
-spec leaves(binary(), [{binary(), binary() | delete}]) -> term().
leaves(Store, Entries) ->
    {leaves, Store, Entries}.

-spec root(binary()) -> term().
root(Store) ->
    {root, Store}.

-spec sync(binary(), node(), map()) -> term().
sync(Store, PeerCNode, _Opts) ->
    {sync, Store, PeerCNode}.

-spec stats() -> term().
stats() ->
    stats.

%% Bytes one entry takes in a leaves message, counted as the external term format does:
%% a 2-tuple, a binary key, and a 16-byte binary or the atom delete.
-spec entry_bytes({binary(), binary() | delete}) -> pos_integer().
entry_bytes({Key, delete}) -> 2 + 5 + byte_size(Key) + 8;
entry_bytes({Key, _Digest}) -> 2 + 5 + byte_size(Key) + 5 + 16.

%% Bytes of a leaves message beside its entries (the request tuple, the pid and the ref, the
%% store's name, the list header), with room to spare.
-spec batch_overhead(binary()) -> pos_integer().
batch_overhead(Store) ->
    256 + byte_size(Store).

%% The C node's cap on one message.
-spec max_message() -> pos_integer().
max_message() ->
    ?MAX_MSG.

%% The reply to a request, in lattice_ae's terms.
-spec reply(atom(), term()) -> term().
reply(_Op, Reply) ->
    Reply.

%% A message the C node sends on its own (not a reply), in lattice_ae's terms:
%% {diff, Store, PeerCNode, [{Key, Side}]} | {done, Store, PeerCNode, {ok, Stats} | {error, R}}
%% | ignore.
-spec notification(term()) ->
    {diff, binary(), node(), [{binary(), atom()}]}
    | {done, binary(), node(), {ok, map()} | {error, term()}}
    | ignore.
notification({lattice_cnode, diff, Store, Peer, Diffs}) when is_list(Diffs) ->
    {diff, Store, Peer, Diffs};
notification({lattice_cnode, session_done, Store, Peer, Stats}) when is_map(Stats) ->
    {done, Store, Peer, {ok, Stats}};
notification({lattice_cnode, session_failed, Store, Peer, Reason}) ->
    {done, Store, Peer, {error, Reason}};
notification(_) ->
    ignore.
