%% @doc The library's entry points that belong to no one type: a safe actor for this node.
%%
%% Every CRDT update names an actor, and each actor's writes are numbered 1, 2, 3...
%% (dots). A replica that starts again from an empty state under an actor it used before
%% numbers its new writes from 1 again: its peers have seen those dots already, so they
%% drop the new writes as old news, and after the next exchange of states both sides lose
%% elements. `node()' alone is such an actor: a restarted node is the same `node()'.
%% {@link actor/0} adds an incarnation chosen once per VM start, so a restarted node
%% writes under a new actor.
-module(lattice).

-export([actor/0]).

-export_type([actor/0, incarnation/0]).

-type incarnation() :: 0..18446744073709551615.
-type actor() :: {node(), incarnation()}.

-define(KEY, {?MODULE, incarnation}).

%% @doc This node's actor for CRDT updates: `{node(), Incarnation}', where the incarnation
%% is a random 64-bit integer chosen once per start of the VM (when the lattice application
%% starts, or at the first call) and the same for every process until the VM stops.
%%
%% Use it, not `node()', for replicas that start from an empty (or a stale) state: a
%% restarted node then never reuses a dot its peers have seen. A replica that reloads its
%% own state from disk may keep its old actor only if that state holds every write it ever
%% sent.
-spec actor() -> actor().
actor() ->
    {node(), incarnation()}.

%% The incarnation, chosen once: persistent_term reads are cheap, and the first writer wins
%% under a lock, so two processes racing at the first call still agree.
-spec incarnation() -> incarnation().
incarnation() ->
    case persistent_term:get(?KEY, undefined) of
        undefined -> choose_incarnation();
        Incarnation -> Incarnation
    end.

choose_incarnation() ->
    global:trans({?KEY, self()},
                 fun() ->
                     case persistent_term:get(?KEY, undefined) of
                         undefined ->
                             %% Seeded from the time and a VM-unique integer.
                             {I1, _} = rand:uniform_s(1 bsl 64, rand:seed_s(exsss)),
                             I = I1 - 1,
                             ok = persistent_term:put(?KEY, I),
                             I;
                         I ->
                             I
                     end
                 end,
                 [node()]).
