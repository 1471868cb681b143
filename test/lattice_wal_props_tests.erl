%% The log's framing (lattice_wal, docs/DURABILITY.md), by PropEr: a torn or damaged record is
%% dropped, never misread. Random records (write deltas, entries, snapshot headers) framed
%% and concatenated as a segment is, then the segment cut at any byte (a crash in the middle
%% of a write), or any one byte of it changed, or both: reading it back gives a prefix of
%% the records, exactly as written, and the offset where that prefix ends. A cut or change
%% inside a record stops the read at that record; nothing after it is read.
-module(lattice_wal_props_tests).
-include_lib("proper/include/proper.hrl").
-include_lib("eunit/include/eunit.hrl").

framing_test_() ->
    {timeout, 120, fun() ->
        ?assert(proper:quickcheck(prop_torn_or_damaged_is_a_prefix(),
                                  [{numtests, 2000}, {to_file, user}]))
    end}.

prop_torn_or_damaged_is_a_prefix() ->
    ?FORALL({Records, Cut, Flip}, segment(),
            begin
                Frames = [lattice_wal:frame(R) || R <- Records],
                Whole = iolist_to_binary(Frames),
                Size = byte_size(Whole),
                Damaged = damage(binary:part(Whole, 0, min(Cut, Size)), Flip),
                {Read, Off, _Rest} = lattice_wal:read_frames(Damaged),
                %% the records wholly before the cut and before the changed byte
                Limit = case Flip of
                            none -> min(Cut, Size);
                            {At, _} -> min(min(Cut, Size), At)
                        end,
                Intact = intact(Frames, Records, Limit),
                ?WHENFAIL(io:format("records ~p~ncut ~p flip ~p~nread ~p~n",
                                    [Records, Cut, Flip, Read]),
                          Read =:= Intact andalso
                              Off =:= iolist_size(lists:sublist(Frames, length(Read))))
            end).

%% The records whose frames end at or before Limit.
intact(Frames, Records, Limit) ->
    intact(Frames, Records, Limit, 0, []).

intact([F | Fs], [R | Rs], Limit, At, Acc) when At + byte_size(F) =< Limit ->
    intact(Fs, Rs, Limit, At + byte_size(F), [R | Acc]);
intact(_, _, _, _, Acc) ->
    lists:reverse(Acc).

%% One byte XORed with a non-zero mask, if the position is inside what is left.
damage(Bin, none) ->
    Bin;
damage(Bin, {At, _Mask}) when At >= byte_size(Bin) ->
    Bin;
damage(Bin, {At, Mask}) ->
    <<Before:At/binary, B, After/binary>> = Bin,
    <<Before/binary, (B bxor Mask), After/binary>>.

segment() ->
    ?LET(Records, list(record()),
         begin
             Size = iolist_size([lattice_wal:frame(R) || R <- Records]),
             {Records, oneof([Size, range(0, Size + 1)]),
              oneof([none, {range(0, max(0, Size - 1)), range(1, 255)}])}
         end).

%% Records shaped as the log's: a write's delta, an entry, a snapshot's header and end.
record() ->
    oneof([{key(), oneof([g_counter, or_set, lww_register]), binary()},
           {key(), entry, ?LET(Pairs, list({oneof([g_set, pn_counter]), {binary(), binary()}}), maps:from_list(Pairs))},
           {lattice_snapshot, 1, non_neg_integer()},
           {lattice_snapshot_end, non_neg_integer()}]).

key() ->
    oneof([atom(), integer(), binary(), {atom(), integer()}]).
