%% @doc Signed convergence checkpoints of one store (docs/REPLICATION.md, "Signed
%% checkpoints"): every `checkpoint_interval_ms' each node signs (store, epoch, root digest)
%% with its Ed25519 key, sends its vote to every peer, and when signers holding the threshold
%% weight signed the same digest for an epoch, the quorum certificate (`lattice_quorum') proves
%% the cluster held that state. A signer that signs two digests for one epoch is caught with
%% verifiable equivocation evidence, which every node that sees it reports and forwards.
%%
%% One process per store, started by `lattice_store_sup' after the store's `lattice_repl', and
%% registered as {@link name/1}. Votes and evidence travel between the stores' replication
%% processes (`lattice_repl:broadcast/2'), which deliver what a peer sent as
%% `{lattice_repl, peer_message, FromNode, Msg}'.
%%
%% <ul>
%% <li><b>Epochs.</b> Epoch = the system time in ms divided by the interval: the same number on
%%     every node whose clock agrees, with no message. Each node signs the epoch its clock
%%     enters, once: it keeps the last epoch it signed and never signs one at or below it, and a
%%     process that starts (or restarts) signs only from the epoch after the one in progress,
%%     since it cannot know what it signed before.</li>
%% <li><b>The digest</b> signed is the store's anti-entropy root (`lattice_ae:flush/1', after
%%     `lattice_repl:flush/1' sent the local deltas): its 16-byte sum followed by the count of
%%     keys as a 64-bit big-endian integer (24 bytes).</li>
%% <li><b>The statement</b> is `lattice_quorum''s (scope, sequence, digest) under its domain
%%     tag, with scope `"lattice.checkpoint.v1\0"' followed by the store's name and sequence the
%%     epoch: a checkpoint vote is never valid as any other quorum vote.</li>
%% <li><b>Votes</b> are kept and tallied by `lattice_checkpoint_votes' (bounded: the last
%%     `keep_epochs' epochs, at most one vote per signer and epoch).</li>
%% </ul>
-module(lattice_checkpoint).
-behaviour(gen_server).

-export([start_link/2, child_spec/2, name/1, options/1, scope/1]).
-export([latest/1, certificate/2, stats/1, info/1, verify/2, decode/1]).
-export([equivocate_for_test/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(SCOPE_TAG, <<"lattice.checkpoint.v1", 0>>).
-define(VOTE_VERSION, 1).
%% The largest vote (tag, signer, epoch, digest, signature) and evidence messages accepted.
-define(MAX_VOTE_BYTES, 1 + 1 + 255 + 8 + 1 + 64 + 64).
-define(MAX_EVIDENCE_BYTES, 1024).
%% A node certificate sent with a vote, at most (its format's largest is 700 bytes).
-define(MAX_CERT_BYTES, 1024).
%% The public key of a signer whose key is not known yet: all zero, a small-order point that
%% libsodium's verification refuses, so nothing verifies under it.
-define(NO_KEY, <<0:256>>).
%% How long the roots may take before an epoch is skipped.
-define(ROOT_TIMEOUT_MS, 5000).
%% A tick this many ms after the boundary: a timer that fires a little early must not find the
%% previous epoch.
-define(TICK_SLACK_MS, 2).

-define(DEFAULTS, #{checkpoint_interval_ms => 10000, level => normal, cap => 15,
                    keep_epochs => 4, max_votes => 4096, allow_test_equivocation => false}).

-record(st, {
    store :: atom(),
    scope :: binary(),
    interval :: pos_integer(),
    key :: lattice_crypto:key() | undefined,
    %% this node's certificate, sent with its votes, when the keys are the security
    %% configuration's
    cert :: binary() | undefined,
    id :: binary(),
    nodes :: #{binary() => node()},
    cap :: 1..100,
    %% the signers and their weights; a key is `undefined' until the signer's certificate
    %% (with its votes) gives it, unless the options named it (`explicit')
    members :: #{binary() => {<<_:256>> | undefined, pos_integer()}},
    explicit :: boolean(),
    %% no `signers' option: every node with a valid certificate is a signer of weight 1
    open :: boolean(),
    %% the last verified certificate of each signer (for verify/2 with the authority key)
    certs = #{} :: #{binary() => binary()},
    votes :: lattice_checkpoint_votes:votes() | undefined,  % set once init has the signer set
    level :: lattice_quorum:level(),
    last_signed :: non_neg_integer(),
    keep :: pos_integer(),
    %% our own votes of the kept epochs, epoch => digest
    own = #{} :: #{non_neg_integer() => binary()},
    test_hook :: boolean(),
    counters = #{} :: #{term() => non_neg_integer()}
}).

-type certificate() :: #{store := atom(), epoch := non_neg_integer(), digest := binary(),
                         root := #{hash := binary(), count := non_neg_integer()},
                         signers := [node() | binary()], certificate := binary(),
                         weight => non_neg_integer(), needed => pos_integer(),
                         node_certificates => [binary()]}.
-export_type([certificate/0]).

%%--------------------------------------------------------------------------------------------
%% API

%% @doc Starts the checkpoints of `Store' (whose `lattice_repl' runs). Options: the keys of
%% {@link options/1}.
-spec start_link(atom(), map()) -> {ok, pid()} | {error, term()}.
start_link(Store, Opts) when is_atom(Store) ->
    Config = options(Opts),
    gen_server:start_link({local, name(Store)}, ?MODULE, {Store, Config}, []).

-spec child_spec(atom(), map()) -> supervisor:child_spec().
child_spec(Store, Opts) ->
    _ = options(Opts),
    #{id => {?MODULE, Store}, start => {?MODULE, start_link, [Store, Opts]},
      restart => permanent, shutdown => 5000, type => worker, modules => [?MODULE]}.

%% @doc The registered name of `Store''s checkpoint process: `lattice_checkpoint_<Store>'.
-spec name(atom()) -> atom().
name(Store) -> list_to_atom("lattice_checkpoint_" ++ atom_to_list(Store)).

%% @doc The scope of `Store''s votes: `"lattice.checkpoint.v1\0"' and the store's name.
-spec scope(atom()) -> binary().
scope(Store) when is_atom(Store) ->
    Bin = <<?SCOPE_TAG/binary, (atom_to_binary(Store))/binary>>,
    byte_size(Bin) =< 255 orelse erlang:error(badarg, [Store]),
    Bin.

%% @doc The options with their defaults; `badarg' for an unknown option or a bad value.
%% <ul>
%% <li>`checkpoint_interval_ms' (default 10000): the length of an epoch.</li>
%% <li>`signers': the nodes whose votes count (1..1024), with their weights (positive
%%     integers): `#{Node => {SignPublicKey, Weight}}' names their keys; `#{Node => Weight}'
%%     or `[Node]' (weight 1) takes each one's key from its node certificate, which comes
%%     with its votes and is verified against the authority and the revocation list
%%     (`lattice_security'). Without it, every node that presents a valid certificate is a
%%     signer of weight 1, this node included: a set that only grows while the process runs
%%     (so a node that goes down still counts in the total).</li>
%% <li>`key': this node's Ed25519 `sign' key (a `lattice_crypto' key), or `{seed, <<_:256>>}'
%%     (tests and demos); its public key must be this node's in `signers'. Without it the key
%%     and certificate of the security configuration (`lattice_security:config/0') are used
%%     when there is one; else the node signs nothing and only tallies.</li>
%% <li>`level' (`normal' | `elevated' | `high' | 50..99, default `normal') and `cap' (percent,
%%     default 15): lattice_quorum's threshold and cap.</li>
%% <li>`keep_epochs' (default 4) and `max_votes' (default 4096): the bounds of the votes
%%     kept.</li>
%% <li>`allow_test_equivocation' (default false): lets {@link equivocate_for_test/2} run.</li>
%% </ul>
-spec options(map()) -> map().
options(Opts) when is_map(Opts) ->
    maps:foreach(fun(checkpoint_interval_ms, V) when is_integer(V), V >= 10 -> ok;
                    (signers, M) when is_map(M), map_size(M) >= 1, map_size(M) =< 1024 ->
                         Explicit = [N || {N, {_, _}} <- maps:to_list(M)],
                         (Explicit =:= [] orelse length(Explicit) =:= map_size(M))
                             orelse erlang:error(badarg),
                         maps:foreach(fun(N, {<<_:256>>, W}) when is_atom(N) -> weight(W);
                                         (N, W) when is_atom(N) -> weight(W);
                                         (_, _) -> erlang:error(badarg)
                                      end, M);
                    (signers, L) when is_list(L), length(L) >= 1, length(L) =< 1024 ->
                         [] = [N || N <- L, not is_atom(N)],
                         length(L) =:= length(lists:usort(L)) orelse erlang:error(badarg);
                    (key, {seed, <<_:256>>}) -> ok;
                    (key, K) when is_reference(K) -> ok;
                    (level, L) when L =:= normal; L =:= elevated; L =:= high -> ok;
                    (level, L) when is_integer(L), L >= 50, L =< 99 -> ok;
                    (cap, C) when is_integer(C), C >= 1, C =< 100 -> ok;
                    (keep_epochs, K) when is_integer(K), K >= 1, K =< 64 -> ok;
                    (max_votes, K) when is_integer(K), K >= 1 -> ok;
                    (allow_test_equivocation, B) when is_boolean(B) -> ok;
                    (_, _) -> erlang:error(badarg)
                 end, Opts),
    maps:merge(?DEFAULTS, Opts);
options(true) ->
    options(#{});
options(_) ->
    erlang:error(badarg).

weight(W) when is_integer(W), W >= 1, W < 1 bsl 48 -> ok;
weight(_) -> erlang:error(badarg).

%% @doc The latest checkpoint certificate of `Store': `{ok, Certificate}' (the map of
%% {@link decode/1} with the canonical binary under `certificate', and the weight it has and
%% needed), `{error, none_yet}', or `{error, not_enabled}' when the store has no checkpoints.
-spec latest(atom()) -> {ok, certificate()} | {error, none_yet | not_enabled}.
latest(Store) -> call(Store, latest).

%% @doc The certificate of a kept epoch: `{ok, Certificate}' or `{error, none | not_enabled}'.
-spec certificate(atom(), non_neg_integer()) -> {ok, certificate()} | {error, none | not_enabled}.
certificate(Store, Epoch) -> call(Store, {certificate, Epoch}).

%% @doc The counters: `epochs_signed', `votes_sent', `votes_received', `votes_refused' (by
%% reason: `malformed', `stale_epoch', `future_epoch', `wrong_scope', `unknown_signer',
%% `bad_signature', `full'), `duplicates', `equivocations' (caught here), `evidence_received',
%% `evidence_refused' (by reason), `evidence_known', `checkpoints' (epochs certified),
%% `roots_unavailable' (epochs skipped: no root), `malformed'.
-spec stats(atom()) -> map().
stats(Store) -> call(Store, stats).

%% @doc The state: `epoch' (now), `last_signed', `own' (our digests of the kept epochs),
%% `certified' (kept epochs with a certificate), `votes' (kept), `needed', `evidence'
%% (`[{Signer, Epoch}]').
-spec info(atom()) -> map().
info(Store) -> call(Store, info).

%% @doc Test hook (only with `allow_test_equivocation => true'): signs `Digest' for the last
%% epoch this node signed — a second, different digest: an equivocation — and sends it to every
%% peer. `{ok, Epoch}', or `{error, not_allowed | nothing_signed | same_digest}'.
-spec equivocate_for_test(atom(), binary()) ->
          {ok, non_neg_integer()} | {error, not_allowed | nothing_signed | same_digest}.
equivocate_for_test(Store, Digest) when is_binary(Digest), byte_size(Digest) >= 1,
                                        byte_size(Digest) =< 64 ->
    call(Store, {equivocate, Digest}).

call(Store, Req) when is_atom(Store) ->
    try gen_server:call(name(Store), Req, 30000)
    catch exit:{noproc, _} -> {error, not_enabled}
    end.

%% @doc The contents of a checkpoint certificate (its canonical binary, or the map
%% {@link latest/1} gives), without verifying anything: `{ok, #{store, epoch, digest, root,
%% signers, certificate}}' or `{error, malformed | not_a_checkpoint}'. Signers are node names
%% when this node knows the atom, else binaries.
-spec decode(binary() | certificate()) -> {ok, certificate()} | {error, term()}.
decode(#{certificate := Bin}) when is_binary(Bin) ->
    decode(Bin);
decode(Bin) when is_binary(Bin) ->
    case lattice_quorum:decode(Bin) of
        {ok, #{scope := <<"lattice.checkpoint.v1", 0, Name/binary>>, sequence := E, digest := D,
               signatures := Sigs}} when byte_size(Name) >= 1 ->
            Root = case D of
                       <<H:16/binary, C:64>> -> #{hash => H, count => C};
                       _ -> #{hash => D, count => 0}
                   end,
            case D of
                <<_:16/binary, _:64>> ->
                    {ok, #{store => to_atom(Name), epoch => E, digest => D, root => Root,
                           signers => [to_atom(Id) || {Id, _} <- Sigs], certificate => Bin}};
                _ ->
                    {error, not_a_checkpoint}
            end;
        {ok, _} ->
            {error, not_a_checkpoint};
        {error, _} = Err ->
            Err
    end;
decode(_) ->
    {error, malformed}.

to_atom(Bin) ->
    try binary_to_existing_atom(Bin) catch error:badarg -> Bin end.

%% @doc Checks a checkpoint certificate (binary or map), for anyone: `ok' or `{error, Reason}'.
%% `Spec' says whose signatures count:
%% <ul>
%% <li>`#{signers := #{Node => {SignPub, Weight}}}' (as the option), with `level' (default
%%     `normal') and `cap' (default 15);</li>
%% <li>`#{authority := AuthorityPub, certificates := [NodeCertificate]}': each node certificate
%%     is verified (`lattice_cert:verify/4', with `revocations' (default `none') and `now' (s,
%%     default the system time)) and its node signs with its certificate's key, with `weights'
%%     (`#{Node => W}', default 1 each), `level' and `cap'; the certificates are the
%%     membership the threshold is taken over;</li>
%% <li>the authority's 32-byte public key alone (or `#{authority := Pub}' without
%%     `certificates'): the node certificates are those the certificate map carries
%%     (`node_certificates', the signers' own, on a secure store); this proves that nodes
%%     certified by the authority signed that digest, but the threshold is then over the
%%     signers alone: to check it against the cluster, give every member's certificate;</li>
%% <li>a `lattice_quorum' signer set, at level `normal'.</li>
%% </ul>
%% Reasons: `malformed', `not_a_checkpoint', `mismatch' (a map whose fields are not its
%% binary's), `{wrong_store, Store}' (with `store' in `Spec'), `{bad_certificate, Node,
%% Reason}', `no_certificates', and lattice_quorum:verify/3's.
-spec verify(binary() | certificate(), map() | <<_:256>> | lattice_quorum:signer_set()) ->
          ok | {error, term()}.
verify(Cert, Spec) ->
    case decode(Cert) of
        {ok, Dec} ->
            Same = case Cert of
                       #{} -> maps:with([store, epoch, digest], Cert) =:=
                                  maps:with([store, epoch, digest], Dec);
                       _ -> true
                   end,
            Store = case Spec of
                        #{store := S} -> S;
                        _ -> maps:get(store, Dec)
                    end,
            if
                not Same -> {error, mismatch};
                Store =/= map_get(store, Dec) -> {error, {wrong_store, map_get(store, Dec)}};
                true ->
                    case spec_set(spec(Spec, Cert)) of
                        {ok, Set, Level} ->
                            case lattice_quorum:verify(map_get(certificate, Dec), Set, Level) of
                                {ok, _} -> ok;
                                {error, _} = E -> E
                            end;
                        {error, _} = E ->
                            E
                    end
            end;
        {error, _} = E ->
            E
    end.

%% The authority's key alone, or without `certificates': the node certificates the map
%% carries (the signers').
spec(<<_:256>> = Auth, Cert) ->
    spec(#{authority => Auth}, Cert);
spec(#{authority := _} = Spec, Cert) when not is_map_key(certificates, Spec) ->
    Spec#{certificates => case Cert of
                              #{node_certificates := Cs} when is_list(Cs) -> Cs;
                              _ -> []
                          end};
spec(Spec, _) ->
    Spec.

spec_set(#{signers := Signers} = Spec) when is_map(Signers) ->
    Set = lattice_quorum:new_set([{atom_to_binary(N), Pub, W}
                                  || {N, {Pub, W}} <- maps:to_list(Signers)],
                                 #{cap => maps:get(cap, Spec, 15)}),
    {ok, Set, maps:get(level, Spec, normal)};
spec_set(#{authority := _, certificates := []}) ->
    {error, no_certificates};
spec_set(#{authority := Auth, certificates := Certs} = Spec) when is_list(Certs) ->
    Revs = maps:get(revocations, Spec, none),
    Now = maps:get(now, Spec, erlang:system_time(second)),
    Weights = maps:get(weights, Spec, #{}),
    Checked = [{C, lattice_cert:verify(C, Auth, Revs, Now)} || C <- Certs],
    case [{C, R} || {C, {error, R}} <- Checked] of
        [{C, R} | _] ->
            Node = case lattice_cert:decode(C) of
                       {ok, #{node := N}} -> to_atom(N);
                       _ -> unknown
                   end,
            {error, {bad_certificate, Node, R}};
        [] ->
            Signers = [{N, P, weight(N, Weights)}
                       || {_, {ok, #{node := N, sign_pub := P}}} <- Checked],
            {ok, lattice_quorum:new_set(Signers, #{cap => maps:get(cap, Spec, 15)}),
             maps:get(level, Spec, normal)}
    end;
spec_set(Spec) ->
    try lattice_quorum:set_info(Spec) of
        _ -> {ok, Spec, normal}
    catch error:badarg -> erlang:error(badarg, [Spec])
    end.

weight(NodeBin, Weights) ->
    case [W || {N, W} <- maps:to_list(Weights), atom_to_binary(N) =:= NodeBin] of
        [W | _] -> W;
        [] -> 1
    end.

%%--------------------------------------------------------------------------------------------
%% The process

%% @private
init({Store, Opts}) ->
    #{checkpoint_interval_ms := I, level := Level, cap := Cap, keep_epochs := Keep,
      max_votes := MaxVotes, allow_test_equivocation := Hook} = Opts,
    Scope = scope(Store),
    Id = atom_to_binary(node()),
    {Members, Explicit, Open} = members(maps:get(signers, Opts, undefined)),
    Key = case maps:get(key, Opts, undefined) of
              {seed, Seed} -> {ok, K} = lattice_crypto:from_seed(sign, Seed), K;
              K -> K
          end,
    case Explicit andalso check_key(Key, maps:get(Id, Members, undefined)) of
        R when R =:= ok; R =:= false ->
            Nodes = maps:from_list([{atom_to_binary(N), N} || N <- node_list(Opts)]),
            St0 = #st{store = Store, scope = Scope, interval = I, key = Key, id = Id,
                      nodes = Nodes#{Id => node()}, cap = Cap, members = Members,
                      explicit = Explicit, open = Open, level = Level,
                      last_signed = epoch(I), keep = Keep, test_hook = Hook},
            Votes = lattice_checkpoint_votes:new(Scope, signer_set(St0), Level,
                                                 #{keep => Keep, max_votes => MaxVotes}),
            schedule(I),
            {ok, configure(St0#st{votes = Votes})};
        {error, _} = E ->
            {stop, E}
    end.

%% The members: explicit keys, keys to learn from certificates, or an open set (this node
%% alone to start with).
members(undefined) ->
    {#{atom_to_binary(node()) => {undefined, 1}}, false, true};
members(L) when is_list(L) ->
    {maps:from_list([{atom_to_binary(N), {undefined, 1}} || N <- L]), false, false};
members(M) ->
    case [X || {_, {_, _}} = X <- maps:to_list(M)] of
        [] ->
            {maps:from_list([{atom_to_binary(N), {undefined, W}} || {N, W} <- maps:to_list(M)]),
             false, false};
        _ ->
            {maps:from_list([{atom_to_binary(N), PW} || {N, PW} <- maps:to_list(M)]), true,
             false}
    end.

node_list(#{signers := L}) when is_list(L) -> L;
node_list(#{signers := M}) -> maps:keys(M);
node_list(#{}) -> [].

signer_set(#st{members = Ms, cap = Cap}) ->
    lattice_quorum:new_set([{Id, case P of undefined -> ?NO_KEY; _ -> P end, W}
                            || {Id, {P, W}} <- maps:to_list(Ms)], #{cap => Cap}).

%% The key and certificate of the security configuration, when the options gave no key (and
%% named no keys): looked for at start and at each tick until found.
configure(#st{key = undefined, explicit = false} = St) ->
    case catch lattice_security:config() of
        {ok, #{sign_key := K, certificate := Cert, cert := #{node := Id, sign_pub := Pub}}}
          when Id =:= St#st.id ->
            learn(Id, Pub, Cert, St#st{key = K, cert = Cert});
        _ ->
            St
    end;
configure(St) ->
    St.

%% A signer's key from its verified certificate: a member's (or, open, anyone's) key is set
%% or replaced (a renewed certificate), and the votes tallied again under the new set.
learn(Id, Pub, Cert, #st{members = Ms, open = Open} = St) ->
    case Ms of
        #{Id := {Pub, _}} ->
            St#st{certs = (St#st.certs)#{Id => Cert}};
        #{Id := {_, W}} ->
            rebuild(St#st{members = Ms#{Id => {Pub, W}}, certs = (St#st.certs)#{Id => Cert}});
        #{} when Open, map_size(Ms) < 1024 ->
            rebuild(St#st{members = Ms#{Id => {Pub, 1}}, certs = (St#st.certs)#{Id => Cert},
                          nodes = (St#st.nodes)#{Id => binary_to_atom(Id)}});
        #{} ->
            St
    end.

rebuild(#st{votes = V} = St) ->
    {Certified, V1} = lattice_checkpoint_votes:set_signers(signer_set(St), V),
    certified(Certified, St#st{votes = V1}).

%% A node that signs with a key of the options must be a signer with the key's public half;
%% one that does not sign (no key) only tallies.
check_key(undefined, _) -> ok;
check_key(_Key, undefined) -> {error, not_a_signer};
check_key(Key, {Pub, _}) ->
    case lattice_crypto:public_key(Key) of
        Pub -> ok;
        _ -> {error, key_mismatch}
    end.

%% @private
handle_call(latest, _From, St) ->
    case lattice_checkpoint_votes:latest(St#st.votes) of
        {ok, C} -> {reply, {ok, export(C, St)}, St};
        none -> {reply, {error, none_yet}, St}
    end;
handle_call({certificate, E}, _From, St) ->
    case lattice_checkpoint_votes:certificate(E, St#st.votes) of
        {ok, C} -> {reply, {ok, export(C, St)}, St};
        none -> {reply, {error, none}, St}
    end;
handle_call(stats, _From, #st{counters = C} = St) ->
    {reply, stats_map(C), St};
handle_call(info, _From, #st{votes = V} = St) ->
    {reply, #{epoch => epoch(St#st.interval), last_signed => St#st.last_signed,
              own => St#st.own, certified => lattice_checkpoint_votes:certified_epochs(V),
              votes => lattice_checkpoint_votes:vote_count(V),
              needed => lattice_checkpoint_votes:needed(V),
              evidence => lists:sort(maps:keys(lattice_checkpoint_votes:evidence(V))),
              interval_ms => St#st.interval, level => St#st.level}, St};
handle_call({equivocate, _}, _From, #st{test_hook = false} = St) ->
    {reply, {error, not_allowed}, St};
handle_call({equivocate, Digest}, _From, #st{last_signed = E, own = Own} = St) ->
    case Own of
        #{E := Digest} ->
            {reply, {error, same_digest}, St};
        #{E := _} ->
            Vote = lattice_quorum:vote(St#st.key, St#st.id, St#st.scope, E, Digest),
            send_vote(Vote, St),
            {reply, {ok, E}, count(votes_sent, St)};
        #{} ->
            {reply, {error, nothing_signed}, St}
    end;
handle_call(_, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
handle_cast(_, St) ->
    {noreply, St}.

%% @private
handle_info(tick, #st{interval = I} = St) ->
    schedule(I),
    {noreply, sign(epoch(I), configure(St))};
handle_info({lattice_repl, peer_message, From, {?MODULE, vote, Bin, Cert}}, St)
  when is_atom(From), is_binary(Bin), byte_size(Bin) =< ?MAX_VOTE_BYTES, is_binary(Cert),
       byte_size(Cert) =< ?MAX_CERT_BYTES ->
    case decode_vote(Bin, St#st.scope) of
        {ok, #{signer := Id} = Vote} ->
            case St#st.explicit of
                true ->
                    {noreply, take_vote(Vote, count(votes_received, St))};
                false ->
                    case catch lattice_security:verify_peer(Cert) of
                        {ok, #{node := Id, sign_pub := Pub}} ->
                            St1 = learn(Id, Pub, Cert, count(votes_received, St)),
                            {noreply, take_vote(Vote, St1)};
                        _ ->
                            {noreply, count({votes_refused, bad_certificate},
                                            count(votes_received, St))}
                    end
            end;
        error ->
            {noreply, count({votes_refused, malformed}, St)}
    end;
handle_info({lattice_repl, peer_message, From, {?MODULE, vote, Bin}}, St)
  when is_atom(From), is_binary(Bin), byte_size(Bin) =< ?MAX_VOTE_BYTES ->
    case decode_vote(Bin, St#st.scope) of
        {ok, #{signer := Id} = Vote} when not St#st.explicit ->
            %% A key learned from a certificate counts only while that certificate holds:
            %% checked again now (a vote without one could come from a node revoked since,
            %% sent straight to this process by anyone with the cookie).
            case St#st.certs of
                #{Id := Cert} ->
                    case catch lattice_security:verify_peer(Cert) of
                        {ok, #{node := Id}} ->
                            {noreply, take_vote(Vote, count(votes_received, St))};
                        _ ->
                            {noreply, count({votes_refused, bad_certificate},
                                            count(votes_received, St))}
                    end;
                #{} ->
                    {noreply, take_vote(Vote, count(votes_received, St))}
            end;
        {ok, Vote} -> {noreply, take_vote(Vote, count(votes_received, St))};
        error -> {noreply, count({votes_refused, malformed}, St)}
    end;
handle_info({lattice_repl, peer_message, From, {?MODULE, evidence, Bin}}, St)
  when is_atom(From), is_binary(Bin), byte_size(Bin) =< ?MAX_EVIDENCE_BYTES ->
    {noreply, take_evidence(Bin, count(evidence_received, St))};
handle_info({lattice_repl, peer_message, _From, {?MODULE, vote, _, _}}, St) ->
    {noreply, count({votes_refused, malformed}, St)};
handle_info({lattice_repl, peer_message, _From, {?MODULE, vote, _}}, St) ->
    {noreply, count({votes_refused, malformed}, St)};
handle_info({lattice_repl, peer_message, _From, {?MODULE, evidence, _}}, St) ->
    {noreply, count({evidence_refused, malformed}, St)};
handle_info({lattice_repl, peer_message, _From, _}, St) ->
    {noreply, count(malformed, St)};
handle_info(_, St) ->
    {noreply, St}.

%% @private
terminate(_, _) ->
    ok.

%%--------------------------------------------------------------------------------------------

epoch(I) -> erlang:system_time(millisecond) div I.

%% The next tick just after the next epoch boundary of the system clock.
schedule(I) ->
    Now = erlang:system_time(millisecond),
    erlang:send_after(I - Now rem I + ?TICK_SLACK_MS, self(), tick).

%% Our vote for the epoch the clock is in, once: never at or below the last one we signed.
sign(E, #st{votes = V} = St) ->
    St1 = St#st{votes = lattice_checkpoint_votes:advance(E, V),
                own = maps:filter(fun(Ep, _) -> Ep + St#st.keep > E end, St#st.own)},
    case St1#st.key =/= undefined andalso E > St1#st.last_signed of
        false ->
            St1;
        true ->
            case root(St1#st.store) of
                {ok, Digest} ->
                    Vote = lattice_quorum:vote(St1#st.key, St1#st.id, St1#st.scope, E, Digest),
                    St2 = St1#st{last_signed = E, own = (St1#st.own)#{E => Digest}},
                    send_vote(Vote, St2),
                    take_vote(Vote, count(votes_sent, count(epochs_signed, St2)));
                error ->
                    count(roots_unavailable, St1)
            end
    end.

send_vote(Vote, #st{store = Store, cert = undefined}) ->
    lattice_repl:broadcast(Store, {?MODULE, vote, encode_vote(Vote)});
send_vote(Vote, #st{store = Store, cert = Cert}) ->
    lattice_repl:broadcast(Store, {?MODULE, vote, encode_vote(Vote), Cert}).

root(Store) ->
    try
        ok = lattice_repl:flush(Store),
        case lattice_ae:flush(Store, ?ROOT_TIMEOUT_MS) of
            {ok, #{hash := H, count := C}} -> {ok, <<H/binary, C:64>>};
            {error, _} -> error
        end
    catch _:_ -> error
    end.

take_vote(Vote, #st{votes = V, interval = I} = St) ->
    {Outcome, Certified, V1} = lattice_checkpoint_votes:add_vote(Vote, epoch(I), V),
    St1 = certified(Certified, St#st{votes = V1}),
    case Outcome of
        ok -> St1;
        duplicate -> count(duplicates, St1);
        marked -> count(duplicates, St1);
        {equivocation, Id, Ev} -> caught(Id, Ev, count(equivocations, St1));
        {error, Why} -> count({votes_refused, Why}, St1)
    end.

take_evidence(Bin, #st{votes = V, interval = I} = St) ->
    {Outcome, Certified, V1} = lattice_checkpoint_votes:add_evidence(Bin, epoch(I), V),
    St1 = certified(Certified, St#st{votes = V1}),
    case Outcome of
        {new, Id, _E} -> caught(Id, Bin, St1);
        known -> count(evidence_known, St1);
        {error, Why} -> count({evidence_refused, reason(Why)}, St1)
    end.

%% Evidence new to this node: reported, and forwarded so that every node learns it (a node
%% that knows it already does not forward it again).
caught(Id, Ev, #st{store = Store} = St) ->
    Node = maps:get(Id, St#st.nodes, Id),
    lattice_repl:notify(Store, {equivocation, Node, Ev}),
    lattice_repl:broadcast(Store, {?MODULE, evidence, Ev}),
    count(evidence_new, St).

certified([], St) ->
    St;
certified([{E, D} | Rest], #st{store = Store} = St) ->
    lattice_repl:notify(Store, {checkpoint, E, D}),
    certified(Rest, count(checkpoints, St)).

reason({R, _}) when is_atom(R) -> R;
reason(R) -> R.

export(#{epoch := E, digest := D, certificate := Bin, signers := S, weight := W,
         needed := N}, #st{store = Store, nodes = Nodes, certs = Certs}) ->
    <<H:16/binary, C:64>> = D,
    #{store => Store, epoch => E, digest => D, root => #{hash => H, count => C},
      signers => [maps:get(Id, Nodes, Id) || Id <- S], certificate => Bin, weight => W,
      needed => N,
      node_certificates => [maps:get(Id, Certs) || Id <- S, is_map_key(Id, Certs)]}.

%% A vote on the wire: version, signer, epoch, digest, signature; the scope is the store's.
encode_vote(#{signer := Id, sequence := E, digest := D, signature := Sig}) ->
    <<?VOTE_VERSION, (byte_size(Id)), Id/binary, E:64, (byte_size(D)), D/binary, Sig/binary>>.

decode_vote(<<?VOTE_VERSION, L, Id:L/binary, E:64, DL, D:DL/binary, Sig:64/binary>>, Scope)
  when L >= 1, DL >= 1, DL =< 64 ->
    {ok, #{signer => Id, scope => Scope, sequence => E, digest => D, signature => Sig}};
decode_vote(_, _) ->
    error.

count(K, #st{counters = C} = St) -> St#st{counters = C#{K => maps:get(K, C, 0) + 1}}.

stats_map(C) ->
    Plain = [epochs_signed, votes_sent, votes_received, duplicates, equivocations,
             evidence_received, evidence_new, evidence_known, checkpoints, roots_unavailable,
             malformed],
    Base = maps:from_list([{K, maps:get(K, C, 0)} || K <- Plain]),
    Nested = fun(Tag) -> maps:from_list([{R, N} || {{T, R}, N} <- maps:to_list(C), T =:= Tag]) end,
    Base#{votes_refused => Nested(votes_refused), evidence_refused => Nested(evidence_refused)}.
