%% @doc Quorum certificates: t-of-n Ed25519 signatures over a digest, weighed, with a cap on any
%% signer's share and threshold levels; and evidence of equivocation (seed 002).
%%
%% A signer set ({@link new_set/2}) names each signer (1..255 bytes), its Ed25519 public key
%% and a positive integer weight. The cap (`cap', a percentage, 15 by default as in the seed)
%% bounds what one signer can count for: its effective weight is `min(100 * Weight, Cap * T)'
%% with T the sum of the raw weights (the factor 100 keeps it exact in integers), and the
%% set's total is the sum of the effective weights. A certificate passes level L (`normal' 67,
%% `elevated' 75, `high' 82, or any integer 1..99) when the effective weight G of its valid
%% signers satisfies the strict inequality `100 * G > L * Total'; the weight needed is
%% `L * Total div 100 + 1'. No float is involved anywhere.
%%
%% A vote ({@link vote/5}) is a signature by one signer over a statement: the scope (1..255
%% bytes: what is being decided, e.g. a shard), a sequence number (u64: which decision) and the
%% digest (1..64 bytes) of the value decided, under the domain tag `"lattice.quorum.v1\0"'. A
%% certificate ({@link certificate/4}) is the statement and the signers' signatures in a
%% canonical binary (docs/FORMAT.md, "Quorum certificate", decoded in C with a cap of 1024
%% signers and a libFuzzer target). {@link verify/3} refuses, in this order: a malformed
%% certificate, a duplicate signer (`{duplicate_signer, Id}'), an unknown one
%% (`{unknown_signer, Id}'), a bad signature (`{bad_signature, Id}') and too little weight
%% (`{insufficient_weight, Got, Needed}').
%%
%% Equivocation: two valid votes by one signer for the same (scope, sequence) with different
%% digests. {@link equivocation/3} makes them into evidence — a canonical binary holding the
%% signer, its public key, the scope, the sequence and both digests and signatures
%% ("Equivocation evidence") — that any node holding the set checks with
%% {@link verify_evidence/2}, without trusting whoever sent it. {@link observe/2} finds
%% equivocations in a stream of votes.
-module(lattice_quorum).

-export([new_set/1, new_set/2, set_info/1, effective_weight/2, needed/2, statement/3,
         vote/5, verify_vote/2, certificate/4, decode/1, verify/3, equivocation/3,
         verify_evidence/2, new_tracker/1, observe/2, stats/0]).
-export([format_error/2, error_message/1]).

-record(set, {
    signers :: #{binary() => {<<_:256>>, pos_integer()}},
    total :: pos_integer(),
    raw_total :: pos_integer(),
    cap :: 1..100
}).
-record(tracker, {set :: #set{}, seen :: #{{binary(), binary(), non_neg_integer()} => vote()}}).

-opaque signer_set() :: #set{}.
-opaque tracker() :: #tracker{}.
-type signer() :: binary().
-type level() :: normal | elevated | high | 1..99.
-type vote() :: #{signer := signer(), scope := binary(), sequence := non_neg_integer(),
                  digest := binary(), signature := <<_:512>>}.
-type verified() :: #{scope := binary(), sequence := non_neg_integer(), digest := binary(),
                      signers := [signer()], weight := non_neg_integer(),
                      needed := pos_integer(), total := pos_integer()}.
-type reason() :: malformed | too_large | {duplicate_signer, signer()} |
                  {unknown_signer, signer()} | {bad_signature, signer()} |
                  {insufficient_weight, non_neg_integer(), pos_integer()}.
-type evidence_reason() :: malformed | too_large | {unknown_signer, signer()} | wrong_key |
                           bad_signature.
-export_type([signer_set/0, tracker/0, signer/0, level/0, vote/0, verified/0, reason/0,
              evidence_reason/0]).

-define(N, lattice_crypto_nif).
-define(TAG, <<"lattice.quorum.v1", 0>>).
-define(MAX_SIGNERS, 1024).
-define(U64(X), (is_integer(X) andalso X >= 0 andalso X < 1 bsl 64)).
-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => ?MODULE}}])).

%% ---- signer sets -------------------------------------------------------------------------

%% @doc A signer set with the default cap (15 %).
-spec new_set([{signer(), <<_:256>>, pos_integer()}]) -> signer_set().
new_set(Signers) ->
    new_set(Signers, #{}).

%% @doc A signer set of `[{Id, PublicKey, Weight}]' (1..1024 signers, each once, weights
%% positive integers below 2^48); option `cap' (1..100, percent; 100 is no cap).
-spec new_set([{signer(), <<_:256>>, pos_integer()}], #{cap => 1..100}) -> signer_set().
new_set(Signers, Opts) ->
    try make_set(Signers, Opts)
    catch error:_ -> ?BADARG([Signers, Opts])
    end.

make_set(Signers, Opts) when is_list(Signers), is_map(Opts) ->
    [] = maps:keys(Opts) -- [cap],
    Cap = maps:get(cap, Opts, 15),
    true = is_integer(Cap) andalso Cap >= 1 andalso Cap =< 100,
    N = length(Signers),
    true = N >= 1 andalso N =< ?MAX_SIGNERS,
    [] = [S || {Id, Pub, W} = S <- Signers,
               not (is_binary(Id) andalso byte_size(Id) >= 1 andalso byte_size(Id) =< 255
                    andalso is_binary(Pub) andalso byte_size(Pub) =:= 32
                    andalso is_integer(W) andalso W >= 1 andalso W < 1 bsl 48)],
    Ids = [Id || {Id, _, _} <- Signers],
    N = length(lists:usort(Ids)),
    Raw = lists:sum([W || {_, _, W} <- Signers]),
    Eff = [{Id, {Pub, min(100 * W, Cap * Raw)}} || {Id, Pub, W} <- Signers],
    #set{signers = maps:from_list(Eff), total = lists:sum([E || {_, {_, E}} <- Eff]),
         raw_total = Raw, cap = Cap}.

%% @doc The set's figures: `signers' (how many), `total' (of effective weights),
%% `raw_total', `cap', and `needed' for each named level.
-spec set_info(signer_set()) -> map().
set_info(#set{signers = S, total = T, raw_total = R, cap = C} = Set) ->
    #{signers => map_size(S), total => T, raw_total => R, cap => C,
      needed => maps:from_list([{L, needed(Set, L)} || L <- [normal, elevated, high]])};
set_info(Set) ->
    ?BADARG([Set]).

%% @doc A signer's effective weight (after the cap), or 0 for one not in the set.
-spec effective_weight(signer_set(), signer()) -> non_neg_integer().
effective_weight(#set{signers = S}, Id) ->
    case S of
        #{Id := {_, W}} -> W;
        #{} -> 0
    end;
effective_weight(Set, Id) ->
    ?BADARG([Set, Id]).

%% @doc The least effective weight that passes `Level': `Level * Total div 100 + 1'.
-spec needed(signer_set(), level()) -> pos_integer().
needed(#set{total = T} = Set, Level) ->
    try percent(Level) of
        P -> P * T div 100 + 1
    catch error:_ -> ?BADARG([Set, Level])
    end;
needed(Set, Level) ->
    ?BADARG([Set, Level]).

percent(normal) -> 67;
percent(elevated) -> 75;
percent(high) -> 82;
percent(P) when is_integer(P), P >= 1, P =< 99 -> P.

%% ---- votes -------------------------------------------------------------------------------

%% @doc The signed statement of (`Scope', `Sequence', `Digest'), without the domain tag.
-spec statement(binary(), non_neg_integer(), binary()) -> binary().
statement(Scope, Sequence, Digest)
  when is_binary(Scope), byte_size(Scope) >= 1, byte_size(Scope) =< 255, ?U64(Sequence),
       is_binary(Digest), byte_size(Digest) >= 1, byte_size(Digest) =< 64 ->
    <<(byte_size(Scope)), Scope/binary, Sequence:64, (byte_size(Digest)), Digest/binary>>;
statement(Scope, Sequence, Digest) ->
    ?BADARG([Scope, Sequence, Digest]).

%% @doc `Signer''s vote, signed with its Ed25519 `sign' key.
-spec vote(lattice_crypto:key(), signer(), binary(), non_neg_integer(), binary()) -> vote().
vote(Key, Signer, Scope, Sequence, Digest)
  when is_binary(Signer), byte_size(Signer) >= 1, byte_size(Signer) =< 255 ->
    St = try statement(Scope, Sequence, Digest)
         catch error:badarg -> ?BADARG([Key, Signer, Scope, Sequence, Digest])
         end,
    Sig = try lattice_crypto:sign(Key, [?TAG, St])
          catch error:badarg -> ?BADARG([Key, Signer, Scope, Sequence, Digest])
          end,
    lattice_proto:bump({?MODULE, votes}),
    #{signer => Signer, scope => Scope, sequence => Sequence, digest => Digest,
      signature => Sig};
vote(Key, Signer, Scope, Sequence, Digest) ->
    ?BADARG([Key, Signer, Scope, Sequence, Digest]).

%% @doc Whether a vote is by a signer of the set, with a valid signature.
-spec verify_vote(vote(), signer_set()) ->
          ok | {error, {unknown_signer, signer()} | {bad_signature, signer()}}.
verify_vote(#{signer := Id, scope := Scope, sequence := Seq, digest := D,
              signature := Sig} = Vote, #set{signers = S} = Set) when is_binary(Sig) ->
    St = try statement(Scope, Seq, D) catch error:badarg -> ?BADARG([Vote, Set]) end,
    case S of
        #{Id := {Pub, _}} ->
            case lattice_crypto:verify(Pub, [?TAG, St], Sig) of
                true -> ok;
                false -> {error, {bad_signature, Id}}
            end;
        #{} ->
            {error, {unknown_signer, Id}}
    end;
verify_vote(Vote, Set) ->
    ?BADARG([Vote, Set]).

%% ---- certificates ------------------------------------------------------------------------

%% @doc The certificate of votes for (`Scope', `Sequence', `Digest'): their signers and
%% signatures in canonical order. The votes are not verified here ({@link verify/3} does);
%% `{error, {duplicate_signer, Id}}' when two name one signer, `{error, {wrong_statement, Id}}'
%% for a vote of another statement.
-spec certificate(binary(), non_neg_integer(), binary(), [vote()]) ->
          {ok, binary()} | {error, {duplicate_signer | wrong_statement, signer()}}.
certificate(Scope, Sequence, Digest, Votes) when is_list(Votes), length(Votes) >= 1,
                                                 length(Votes) =< ?MAX_SIGNERS ->
    St = try statement(Scope, Sequence, Digest)
         catch error:badarg -> ?BADARG([Scope, Sequence, Digest, Votes])
         end,
    Entries = try [{Id, Sig, {Sc, Sq, D} =:= {Scope, Sequence, Digest}}
                   || #{signer := Id, signature := Sig, scope := Sc, sequence := Sq,
                        digest := D} <- Votes, is_binary(Id), byte_size(Id) >= 1,
                      byte_size(Id) =< 255, is_binary(Sig), byte_size(Sig) =:= 64]
              catch error:_ -> ?BADARG([Scope, Sequence, Digest, Votes])
              end,
    length(Entries) =:= length(Votes) orelse ?BADARG([Scope, Sequence, Digest, Votes]),
    case [Id || {Id, _, false} <- Entries] of
        [Bad | _] ->
            {error, {wrong_statement, Bad}};
        [] ->
            Sorted = lists:sort([{Id, Sig} || {Id, Sig, _} <- Entries]),
            case duplicate(Sorted) of
                {ok, Id} ->
                    {error, {duplicate_signer, Id}};
                none ->
                    lattice_proto:bump({?MODULE, certificates}),
                    {ok, <<16#43, 1, St/binary, (length(Sorted)):16,
                           << <<(byte_size(Id)), Id/binary, Sig/binary>>
                              || {Id, Sig} <- Sorted >>/binary>>}
            end
    end;
certificate(Scope, Sequence, Digest, Votes) ->
    ?BADARG([Scope, Sequence, Digest, Votes]).

%% Sorting {Id, Sig} pairs by Erlang term order sorts the ids bytewise with a proper prefix
%% first: the format's order.
duplicate([{Id, _}, {Id, _} | _]) -> {ok, Id};
duplicate([_ | Rest]) -> duplicate(Rest);
duplicate([]) -> none.

%% @doc The contents of a certificate, without verifying anything.
-spec decode(binary()) ->
          {ok, #{scope := binary(), sequence := non_neg_integer(), digest := binary(),
                 signatures := [{signer(), <<_:512>>}]}} |
          {error, malformed | too_large | {duplicate_signer, signer()}}.
decode(Bin) when is_binary(Bin) ->
    case ?N:quorum_decode(Bin) of
        {ok, {Scope, Seq, Digest, _, Sigs}} ->
            {ok, #{scope => Scope, sequence => Seq, digest => Digest, signatures => Sigs}};
        {error, _} = E ->
            E
    end;
decode(Bin) ->
    ?BADARG([Bin]).

%% @doc Verifies a certificate against a signer set at a threshold level: `{ok, Verified}'
%% (the statement, the signers, their weight, the weight needed, the set's total) or
%% `{error, Reason}'. Every signature is checked: one bad signature refuses the certificate
%% even if the others weigh enough.
-spec verify(binary(), signer_set(), level()) -> {ok, verified()} | {error, reason()}.
verify(Bin, #set{} = Set, Level) when is_binary(Bin) ->
    Needed = try needed(Set, Level) catch error:badarg -> ?BADARG([Bin, Set, Level]) end,
    Result = case ?N:quorum_decode(Bin) of
                 {ok, {Scope, Seq, Digest, St, Sigs}} ->
                     weigh(Sigs, [?TAG, St], Set, Needed, Scope, Seq, Digest);
                 {error, _} = E ->
                     E
             end,
    case Result of
        {ok, _} -> lattice_proto:bump({?MODULE, verified}), Result;
        {error, _} -> lattice_proto:fail(?MODULE, Result)
    end;
verify(Bin, Set, Level) ->
    ?BADARG([Bin, Set, Level]).

weigh(Sigs, Signed, #set{signers = S, total = T}, Needed, Scope, Seq, Digest) ->
    %% Unknown signers first (no signature work for a certificate that names a stranger).
    case [Id || {Id, _} <- Sigs, not is_map_key(Id, S)] of
        [Unknown | _] ->
            {error, {unknown_signer, Unknown}};
        [] ->
            case [Id || {Id, Sig} <- Sigs,
                        not lattice_crypto:verify(element(1, map_get(Id, S)), Signed, Sig)] of
                [Bad | _] ->
                    {error, {bad_signature, Bad}};
                [] ->
                    Got = lists:sum([element(2, map_get(Id, S)) || {Id, _} <- Sigs]),
                    case Got >= Needed of
                        true ->
                            {ok, #{scope => Scope, sequence => Seq, digest => Digest,
                                   signers => [Id || {Id, _} <- Sigs], weight => Got,
                                   needed => Needed, total => T}};
                        false ->
                            {error, {insufficient_weight, Got, Needed}}
                    end
            end
    end.

%% ---- equivocation ------------------------------------------------------------------------

%% @doc Evidence that one signer signed two different digests for one (scope, sequence):
%% `{ok, Evidence}' when both votes verify against the set and conflict, else
%% `{error, not_equivocation}' (another signer, scope or sequence, or the same digest) or the
%% votes' own error.
-spec equivocation(vote(), vote(), signer_set()) ->
          {ok, binary()} |
          {error, not_equivocation | {unknown_signer, signer()} | {bad_signature, signer()}}.
equivocation(#{signer := Id, scope := Sc, sequence := Sq, digest := D1} = A,
             #{signer := Id, scope := Sc, sequence := Sq, digest := D2} = B, #set{} = Set)
  when D1 =/= D2 ->
    case {verify_vote(A, Set), verify_vote(B, Set)} of
        {ok, ok} ->
            #set{signers = #{Id := {Pub, _}}} = Set,
            [{Da, Sa}, {Db, Sb}] = lists:sort([{D1, maps:get(signature, A)},
                                               {D2, maps:get(signature, B)}]),
            lattice_proto:bump({?MODULE, evidence_made}),
            {ok, <<16#44, 1, (byte_size(Id)), Id/binary, Pub/binary, (byte_size(Sc)),
                   Sc/binary, Sq:64, (byte_size(Da)), Da/binary, Sa/binary, (byte_size(Db)),
                   Db/binary, Sb/binary>>};
        {ok, E} -> E;
        {E, _} -> E
    end;
equivocation(#{signer := _, scope := _, sequence := _, digest := _},
             #{signer := _, scope := _, sequence := _, digest := _}, #set{}) ->
    {error, not_equivocation};
equivocation(A, B, Set) ->
    ?BADARG([A, B, Set]).

%% @doc Checks evidence: `{ok, #{signer, scope, sequence, digests}}' when the signer is in
%% the set with the key the evidence names, and both signatures are valid over two different
%% digests for the same scope and sequence; else `{error, Reason}' (`malformed', `too_large',
%% `{unknown_signer, Id}', `wrong_key', `bad_signature').
-spec verify_evidence(binary(), signer_set()) ->
          {ok, #{signer := signer(), scope := binary(), sequence := non_neg_integer(),
                 digests := [binary()]}} | {error, evidence_reason()}.
verify_evidence(Bin, #set{signers = S}) when is_binary(Bin) ->
    Result =
        case ?N:evidence_decode(Bin) of
            {ok, {Id, Pub, Scope, Seq, {D1, S1}, {D2, S2}}} ->
                case S of
                    #{Id := {Pub, _}} ->
                        Ok1 = lattice_crypto:verify(Pub, [?TAG, statement(Scope, Seq, D1)], S1),
                        Ok2 = lattice_crypto:verify(Pub, [?TAG, statement(Scope, Seq, D2)], S2),
                        case Ok1 andalso Ok2 of
                            true -> {ok, #{signer => Id, scope => Scope, sequence => Seq,
                                           digests => [D1, D2]}};
                            false -> {error, bad_signature}
                        end;
                    #{Id := _} ->
                        {error, wrong_key};
                    #{} ->
                        {error, {unknown_signer, Id}}
                end;
            {error, _} = E ->
                E
        end,
    case Result of
        {ok, _} -> lattice_proto:bump({?MODULE, evidence_verified});
        {error, _} -> lattice_proto:bump({?MODULE, {failed, evidence_refused}})
    end,
    Result;
verify_evidence(Bin, Set) ->
    ?BADARG([Bin, Set]).

%% @doc A tracker of the votes seen per (signer, scope, sequence), to find equivocations.
-spec new_tracker(signer_set()) -> tracker().
new_tracker(#set{} = Set) ->
    #tracker{set = Set, seen = #{}};
new_tracker(Set) ->
    ?BADARG([Set]).

%% @doc Records a vote: `{ok, Tracker}' for a valid vote (new, or the same digest again),
%% `{equivocation, Evidence, Tracker}' when the signer already voted another digest for that
%% scope and sequence, or `{error, Reason}' for a vote that does not verify (not recorded).
%% The tracker keeps the first vote of each (signer, scope, sequence); prune it by making a new
%% one when sequences move on.
-spec observe(tracker(), vote()) ->
          {ok, tracker()} | {equivocation, binary(), tracker()} |
          {error, {unknown_signer, signer()} | {bad_signature, signer()}}.
observe(#tracker{set = Set, seen = Seen} = T, #{signer := Id, scope := Sc, sequence := Sq,
                                                digest := D} = Vote) ->
    case verify_vote(Vote, Set) of
        ok ->
            case Seen of
                #{{Id, Sc, Sq} := #{digest := D}} ->
                    {ok, T};
                #{{Id, Sc, Sq} := First} ->
                    {ok, Evidence} = equivocation(First, Vote, Set),
                    {equivocation, Evidence, T};
                #{} ->
                    {ok, T#tracker{seen = Seen#{{Id, Sc, Sq} => Vote}}}
            end;
        {error, _} = E ->
            E
    end;
observe(T, Vote) ->
    ?BADARG([T, Vote]).

%% @doc The node's quorum counters: `votes' (signed), `certificates' (built), `verified',
%% `evidence_made', `evidence_verified', `failed' (by reason).
-spec stats() -> map().
stats() ->
    lattice_proto:counts(?MODULE).

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

checks(new_set, [Signers, Opts]) ->
    [{1, fun() -> signers(Signers) end},
     {2, fun() ->
                 case lattice_proto:map_keys("the options", Opts, [cap]) of
                     ok -> lattice_proto:pos_int("cap (percent)", maps:get(cap, Opts, 15), 100);
                     E -> E
                 end
         end}];
checks(needed, [Set, Level]) ->
    [{1, fun() -> set(Set) end}, {2, fun() -> level(Level) end}];
checks(verify, [Bin, Set, Level]) ->
    [{1, fun() -> lattice_proto:binary_between("the certificate", Bin, 0, 1 bsl 40) end},
     {2, fun() -> set(Set) end}, {3, fun() -> level(Level) end}];
checks(statement, [Scope, Seq, Digest]) ->
    statement_checks(1, Scope, Seq, Digest);
checks(vote, [Key, Signer, Scope, Seq, Digest]) ->
    [{1, fun() -> lattice_proto:key("the signing key", Key, [sign]) end},
     {2, fun() -> lattice_proto:binary_between("the signer", Signer, 1, 255) end}
     | statement_checks(3, Scope, Seq, Digest)];
checks(certificate, [Scope, Seq, Digest, Votes]) ->
    statement_checks(1, Scope, Seq, Digest) ++
        [{4, fun() -> votes(Votes) end}];
checks(verify_vote, [Vote, Set]) ->
    [{1, fun() -> votes([Vote]) end}, {2, fun() -> set(Set) end}];
checks(equivocation, [A, B, Set]) ->
    [{1, fun() -> votes([A]) end}, {2, fun() -> votes([B]) end}, {3, fun() -> set(Set) end}];
checks(verify_evidence, [Bin, Set]) ->
    [{1, fun() -> lattice_proto:binary_between("the evidence", Bin, 0, 1 bsl 40) end},
     {2, fun() -> set(Set) end}];
checks(observe, [T, Vote]) ->
    [{1, fun() -> case T of
                      #tracker{} -> ok;
                      _ -> {error, lattice_proto:fmt("the tracker must be one made by "
                                                     "new_tracker/1, got: ~tp", [T])}
                  end
         end},
     {2, fun() -> votes([Vote]) end}];
checks(_, [Set | _]) ->
    [{1, fun() -> set(Set) end}].

statement_checks(At, Scope, Seq, Digest) ->
    [{At, fun() -> lattice_proto:binary_between("the scope", Scope, 1, 255) end},
     {At + 1, fun() -> lattice_proto:int_range("the sequence", Seq, 0, 1 bsl 64 - 1, "") end},
     {At + 2, fun() -> lattice_proto:binary_between("the digest", Digest, 1, 64) end}].

set(#set{}) -> ok;
set(S) -> {error, lattice_proto:fmt("the signer set must be one made by new_set/1,2, got: ~tp",
                                    [S])}.

level(L) ->
    case lists:member(L, [normal, elevated, high]) orelse
        (is_integer(L) andalso L >= 1 andalso L =< 99) of
        true -> ok;
        false -> {error, lattice_proto:fmt("the level must be normal, elevated, high or a "
                                           "percentage 1..99, got: ~tp", [L])}
    end.

signers(L) when is_list(L), length(L) >= 1, length(L) =< ?MAX_SIGNERS ->
    Bad = [S || S <- L,
                case S of
                    {Id, Pub, W} -> not (is_binary(Id) andalso byte_size(Id) >= 1 andalso
                                         byte_size(Id) =< 255 andalso is_binary(Pub) andalso
                                         byte_size(Pub) =:= 32 andalso is_integer(W) andalso
                                         W >= 1 andalso W < 1 bsl 48);
                    _ -> true
                end],
    Ids = [element(1, S) || S <- L, is_tuple(S), tuple_size(S) =:= 3],
    case {Bad, Ids -- lists:usort(Ids)} of
        {[B | _], _} ->
            {error, lattice_proto:fmt("each signer must be {Id (1..255 bytes), PublicKey "
                                      "(32 bytes), Weight (1..2^48-1)}, got: ~tp", [B])};
        {[], [D | _]} ->
            {error, lattice_proto:fmt("the signer ~tp is listed twice", [D])};
        {[], []} ->
            ok
    end;
signers(L) ->
    {error, lattice_proto:fmt("the signers must be a list of 1..1024 {Id, PublicKey, Weight}, "
                              "got: ~tp", [L])}.

votes(Votes) when is_list(Votes) ->
    case [V || V <- Votes, not is_vote(V)] of
        [] -> ok;
        [V | _] -> {error, lattice_proto:fmt("a vote must be a map made by vote/5, got: ~tp",
                                             [V])}
    end;
votes(V) ->
    {error, lattice_proto:fmt("the votes must be a list of 1..1024 votes, got: ~tp", [V])}.

is_vote(#{signer := Id, scope := Sc, sequence := Sq, digest := D, signature := S}) ->
    is_binary(Id) andalso byte_size(Id) >= 1 andalso byte_size(Id) =< 255 andalso
        is_binary(Sc) andalso byte_size(Sc) >= 1 andalso byte_size(Sc) =< 255 andalso
        ?U64(Sq) andalso is_binary(D) andalso byte_size(D) >= 1 andalso byte_size(D) =< 64
        andalso is_binary(S) andalso byte_size(S) =:= 64;
is_vote(_) ->
    false.
