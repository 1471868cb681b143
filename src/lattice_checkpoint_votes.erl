%% @doc The vote bookkeeping of signed checkpoints (docs/REPLICATION.md, "Signed checkpoints"):
%% a value, with no process and no clock of its own, so it is tested without nodes
%% (test/lattice_checkpoint_tests.erl). `lattice_checkpoint' holds one per store.
%%
%% It keeps, for the last `keep' epochs only, the first valid vote of each signer of the set
%% (`lattice_quorum' votes over (scope, epoch, digest)); so it holds at most `keep' times the
%% number of signers votes, and `max_votes' bounds that again. A vote is refused (and not kept)
%% when its epoch is outside the window `[Current - keep + 1, Current + 1]' (`stale_epoch',
%% `future_epoch'), when it is of another scope (`wrong_scope'), by a stranger
%% (`unknown_signer') or badly signed (`bad_signature'), or past `max_votes' (`full').
%%
%% A second vote by one signer for one epoch with another digest is an equivocation:
%% `lattice_quorum:equivocation/3' makes the evidence, the signer is marked for that epoch, and
%% none of its votes for it count from then on (its first vote is dropped from the tally).
%% Evidence received from others ({@link add_evidence/3}) is verified
%% (`lattice_quorum:verify_evidence/2') and marks the signer the same way.
%%
%% After every change the epoch is tallied: the signers (not marked) of each digest are weighed
%% (`lattice_quorum:effective_weight/2'), and a digest whose weight reaches
%% `lattice_quorum:needed/2' at the level gets the epoch's certificate, rebuilt when more
%% signers join it and withdrawn when an equivocation takes its weight below the threshold.
%% The level must be at least 50 %, so that, with equivocators not counted, no two digests of
%% one epoch can both pass. {@link latest/1} is the certificate of the greatest certified
%% epoch; it survives the pruning of its epoch's votes.
-module(lattice_checkpoint_votes).

-export([new/3, new/4, add_vote/3, add_evidence/3, advance/2, certificate/2, latest/1,
         certified_epochs/1, vote_count/1, equivocators/2, evidence/1, needed/1, set/1,
         set_signers/2]).

-record(cert, {epoch :: non_neg_integer(), digest :: binary(), bin :: binary(),
               signers :: [binary()], weight :: non_neg_integer()}).
-record(v, {
    scope :: binary(),
    set :: lattice_quorum:signer_set(),
    level :: lattice_quorum:level(),
    needed :: pos_integer(),
    keep :: pos_integer(),
    max_votes :: pos_integer(),
    max_evidence :: pos_integer(),
    %% the first valid vote of each signer, per kept epoch
    epochs = #{} :: #{non_neg_integer() => #{binary() => lattice_quorum:vote()}},
    %% signers caught equivocating, per epoch (kept with the epoch's votes)
    marked = #{} :: #{non_neg_integer() => #{binary() => true}},
    %% all the evidence known, by {signer, epoch}, at most max_evidence (the oldest go)
    evidence = #{} :: #{{binary(), non_neg_integer()} => binary()},
    certs = #{} :: #{non_neg_integer() => #cert{}},
    %% the greatest certificate whose epoch was pruned, while no kept epoch is certified
    archived :: #cert{} | undefined,
    count = 0 :: non_neg_integer()
}).

-opaque votes() :: #v{}.
-type certificate() :: #{epoch := non_neg_integer(), digest := binary(),
                         certificate := binary(), signers := [binary()],
                         weight := non_neg_integer(), needed := pos_integer()}.
-type refusal() :: stale_epoch | future_epoch | wrong_scope | unknown_signer | bad_signature
                 | full.
-type outcome() :: ok | duplicate | marked | {equivocation, binary(), binary()}
                 | {error, refusal()}.
-export_type([votes/0, certificate/0, refusal/0, outcome/0]).

-define(DEFAULTS, #{keep => 4, max_votes => 4096, max_evidence => 256}).

%% @equiv new(Scope, Set, Level, #{})
-spec new(binary(), lattice_quorum:signer_set(), lattice_quorum:level()) -> votes().
new(Scope, Set, Level) ->
    new(Scope, Set, Level, #{}).

%% @doc Bookkeeping of the votes of `Set' over `Scope', certifying at `Level' (50..99 or
%% `normal' | `elevated' | `high'). Options: `keep' (epochs kept, default 4), `max_votes'
%% (default 4096), `max_evidence' (pieces of evidence kept, default 256).
-spec new(binary(), lattice_quorum:signer_set(), lattice_quorum:level(), map()) -> votes().
new(Scope, Set, Level, Opts) when is_binary(Scope), byte_size(Scope) >= 1,
                                  byte_size(Scope) =< 255, is_map(Opts) ->
    Args = [Scope, Set, Level, Opts],
    ok = check(lists:member(Level, [normal, elevated, high]) orelse
                   (is_integer(Level) andalso Level >= 50 andalso Level =< 99), Args),
    ok = check(maps:keys(Opts) -- maps:keys(?DEFAULTS) =:= [], Args),
    #{keep := Keep, max_votes := MaxVotes, max_evidence := MaxEv} = maps:merge(?DEFAULTS, Opts),
    ok = check([] =:= [X || X <- [Keep, MaxVotes, MaxEv], not (is_integer(X) andalso X >= 1)],
               Args),
    #v{scope = Scope, set = Set, level = Level, needed = lattice_quorum:needed(Set, Level),
       keep = Keep,
       max_votes = MaxVotes, max_evidence = MaxEv};
new(Scope, Set, Level, Opts) ->
    erlang:error(badarg, [Scope, Set, Level, Opts]).

check(true, _) -> ok;
check(false, Args) -> erlang:error(badarg, Args).

%% @doc The weight a certificate needs.
-spec needed(votes()) -> pos_integer().
needed(#v{needed = N}) -> N.

%% @doc The signer set.
-spec set(votes()) -> lattice_quorum:signer_set().
set(#v{set = S}) -> S.

%% @doc Replaces the signer set (a signer's key learnt from its certificate, a signer added):
%% the votes kept stay (they were verified when they came), the weight needed is the new set's,
%% and every kept epoch is tallied again. With the epochs newly certified.
-spec set_signers(lattice_quorum:signer_set(), votes()) ->
          {[{non_neg_integer(), binary()}], votes()}.
set_signers(Set, #v{level = Level} = V) ->
    V1 = V#v{set = Set, needed = lattice_quorum:needed(Set, Level)},
    lists:foldl(fun(E, {New, Acc}) ->
                        {N, Acc1} = tally(E, Acc),
                        {New ++ N, Acc1}
                end, {[], V1}, lists:sort(maps:keys(V1#v.epochs))).

%% @doc Records a vote, with `Current' the local epoch. `ok' (kept), `duplicate' (the same
%% digest again), `marked' (a vote of a signer already caught for that epoch: ignored),
%% `{equivocation, Signer, Evidence}' (a second digest: the signer is now marked), or
%% `{error, Refusal}'. With it, the epochs newly certified by this vote, `[{Epoch, Digest}]'
%% (an epoch whose certificate changes digest is new again).
-spec add_vote(lattice_quorum:vote(), non_neg_integer(), votes()) ->
          {outcome(), [{non_neg_integer(), binary()}], votes()}.
add_vote(#{signer := Id, scope := Scope, sequence := E, digest := D} = Vote, Current,
         #v{scope = S, keep = Keep, set = Set} = V) ->
    if
        Scope =/= S -> {{error, wrong_scope}, [], V};
        E + Keep =< Current -> {{error, stale_epoch}, [], V};
        E > Current + 1 -> {{error, future_epoch}, [], V};
        true ->
            case lattice_quorum:verify_vote(Vote, Set) of
                {error, {Why, _}} ->
                    {{error, Why}, [], V};
                ok ->
                    Votes = maps:get(E, V#v.epochs, #{}),
                    case {is_marked(Id, E, V), Votes} of
                        {true, _} ->
                            {marked, [], V};
                        {false, #{Id := #{digest := D}}} ->
                            {duplicate, [], V};
                        {false, #{Id := First}} ->
                            {ok, Ev} = lattice_quorum:equivocation(First, Vote, Set),
                            V1 = remember(Id, E, Ev, V),
                            {Certified, V2} = tally(E, mark(Id, E, V1)),
                            {{equivocation, Id, Ev}, Certified, V2};
                        {false, _} when V#v.count >= V#v.max_votes ->
                            {{error, full}, [], V};
                        {false, _} ->
                            V1 = V#v{epochs = (V#v.epochs)#{E => Votes#{Id => Vote}},
                                     count = V#v.count + 1},
                            {Certified, V2} = tally(E, V1),
                            {ok, Certified, V2}
                    end
            end
    end.

%% @doc Records evidence of an equivocation, from anyone: `{new, Signer, Epoch}' (verified
%% and not known before: the signer is marked for that epoch if it is kept), `known', or
%% `{error, Reason}' (lattice_quorum:verify_evidence/2's reasons, or `wrong_scope'). With it,
%% the epochs newly certified (none: marking only takes weight away) and the bookkeeping.
-spec add_evidence(binary(), non_neg_integer(), votes()) ->
          {{new, binary(), non_neg_integer()} | known | {error, term()},
           [{non_neg_integer(), binary()}], votes()}.
add_evidence(Bin, _Current, #v{set = Set, scope = S} = V) when is_binary(Bin) ->
    case lattice_quorum:verify_evidence(Bin, Set) of
        {ok, #{scope := S, signer := Id, sequence := E}} ->
            case is_map_key({Id, E}, V#v.evidence) of
                true ->
                    {known, [], V};
                false ->
                    V1 = remember(Id, E, Bin, V),
                    {Certified, V2} = case is_map_key(E, V1#v.epochs) of
                                          true -> tally(E, mark(Id, E, V1));
                                          false -> {[], mark(Id, E, V1)}
                                      end,
                    {{new, Id, E}, Certified, V2}
            end;
        {ok, _} ->
            {{error, wrong_scope}, [], V};
        {error, _} = Err ->
            {Err, [], V}
    end.

%% @doc Moves the window to `Current': the votes and marks of epochs before
%% `Current - keep + 1' go (their certificates too, but the greatest, kept by {@link latest/1}).
-spec advance(non_neg_integer(), votes()) -> votes().
advance(Current, #v{keep = Keep, epochs = Es, marked = Ms, certs = Cs} = V) ->
    Keeps = fun(E, _) -> E + Keep > Current end,
    Kept = maps:filter(Keeps, Es),
    KeptCerts = maps:filter(Keeps, Cs),
    Archived = case maps:size(KeptCerts) =:= maps:size(Cs) of
                   true -> V#v.archived;
                   false -> greatest(maps:values(maps:without(maps:keys(KeptCerts), Cs)) ++
                                         [C || C <- [V#v.archived], C =/= undefined])
               end,
    V#v{epochs = Kept, marked = maps:filter(Keeps, Ms), certs = KeptCerts, archived = Archived,
        count = lists:sum([map_size(M) || M <- maps:values(Kept)])}.

%% @doc The certificate of a kept epoch, or `none'.
-spec certificate(non_neg_integer(), votes()) -> {ok, certificate()} | none.
certificate(E, #v{certs = Cs} = V) ->
    case Cs of
        #{E := C} -> {ok, export(C, V)};
        #{} -> none
    end.

%% @doc The certificate of the greatest epoch certified, or `none'.
-spec latest(votes()) -> {ok, certificate()} | none.
latest(#v{certs = Cs, archived = A} = V) ->
    case greatest(maps:values(Cs) ++ [C || C <- [A], C =/= undefined]) of
        undefined -> none;
        C -> {ok, export(C, V)}
    end.

%% @doc The kept epochs with a certificate, ascending.
-spec certified_epochs(votes()) -> [non_neg_integer()].
certified_epochs(#v{certs = Cs}) -> lists:sort(maps:keys(Cs)).

%% @doc How many votes are kept.
-spec vote_count(votes()) -> non_neg_integer().
vote_count(#v{count = N}) -> N.

%% @doc The signers marked as equivocators for a kept epoch.
-spec equivocators(non_neg_integer(), votes()) -> [binary()].
equivocators(E, #v{marked = Ms}) -> lists:sort(maps:keys(maps:get(E, Ms, #{}))).

%% @doc All the evidence known: `#{{Signer, Epoch} => Evidence}'.
-spec evidence(votes()) -> #{{binary(), non_neg_integer()} => binary()}.
evidence(#v{evidence = Ev}) -> Ev.

%%--------------------------------------------------------------------------------------------

is_marked(Id, E, #v{marked = Ms}) ->
    case Ms of
        #{E := #{Id := true}} -> true;
        #{} -> false
    end.

mark(Id, E, #v{marked = Ms} = V) ->
    V#v{marked = Ms#{E => (maps:get(E, Ms, #{}))#{Id => true}}}.

%% Evidence kept, the oldest epochs' dropped past max_evidence.
remember(Id, E, Bin, #v{evidence = Ev, max_evidence = Max} = V) ->
    Ev1 = Ev#{{Id, E} => Bin},
    Ev2 = case map_size(Ev1) > Max of
              true ->
                  [{_, Oldest} | _] = lists:sort([{Ep, K} || {_, Ep} = K <- maps:keys(Ev1)]),
                  maps:remove(Oldest, Ev1);
              false ->
                  Ev1
          end,
    V#v{evidence = Ev2}.

%% The epoch's certificate from its votes now: the digest whose unmarked signers weigh enough.
tally(E, #v{set = Set, scope = Scope, needed = Needed, certs = Cs} = V) ->
    Votes = maps:get(E, V#v.epochs, #{}),
    Marked = maps:get(E, V#v.marked, #{}),
    ByDigest = maps:fold(fun(Id, #{digest := D} = Vote, Acc) when not is_map_key(Id, Marked) ->
                                 Acc#{D => [Vote | maps:get(D, Acc, [])]};
                            (_, _, Acc) ->
                                 Acc
                         end, #{}, Votes),
    Weighed = [{lists:sum([lattice_quorum:effective_weight(Set, Id) || #{signer := Id} <- Vs]),
                D, Vs} || {D, Vs} <- maps:to_list(ByDigest)],
    case [W || {Weight, _, _} = W <- Weighed, Weight >= Needed] of
        [] ->
            {[], V#v{certs = maps:remove(E, Cs)}};
        [{Weight, D, Vs}] ->
            Signers = lists:sort([Id || #{signer := Id} <- Vs]),
            case Cs of
                #{E := #cert{digest = D, signers = Signers}} ->
                    {[], V};
                _ ->
                    {ok, Bin} = lattice_quorum:certificate(Scope, E, D, Vs),
                    New = case Cs of
                              #{E := #cert{digest = D}} -> [];
                              _ -> [{E, D}]
                          end,
                    C = #cert{epoch = E, digest = D, bin = Bin, signers = Signers,
                              weight = Weight},
                    {New, V#v{certs = Cs#{E => C}}}
            end
    end.

greatest([]) -> undefined;
greatest(Cs) -> lists:last(lists:keysort(#cert.epoch, Cs)).

export(#cert{epoch = E, digest = D, bin = B, signers = S, weight = W}, #v{needed = N}) ->
    #{epoch => E, digest => D, certificate => B, signers => S, weight => W, needed => N}.
