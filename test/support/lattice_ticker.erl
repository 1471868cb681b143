%% lattice_ticker: the latency tests' harness (STYLE.md habit 6). A ticker process asks to be
%% woken every millisecond and records how long each wait really took, while a worker process
%% does the big work; with one scheduler online, the longest gap is how long the work kept the
%% scheduler from everyone else. The timer alone gives gaps of about 2 ms.
-module(lattice_ticker).
-export([run/1, run/2]).

%% run(Work) -> {GapsMs, Result}: Work() in a worker, the gaps while it ran.
-spec run(fun(() -> T)) -> {[float()], T}.
run(Work) ->
    {Gaps, Result, _SetupMs} = run(fun() -> none end, fun(none) -> Work() end),
    {Gaps, Result}.

%% run(Setup, Work) -> {GapsMs, Result, SetupMs}: Setup() then Work(SetupResult) in a worker;
%% the gaps are recorded during Work only. Setup's garbage is collected before the ticker
%% starts, and the worker exits only after it has stopped: both free tens of megabytes of
%% binaries, which is the VM's own work, not the work measured.
-spec run(fun(() -> S), fun((S) -> T)) -> {[float()], T, integer()}.
run(Setup, Work) ->
    Self = self(),
    Worker = spawn_link(fun() ->
                                T0 = erlang:monotonic_time(millisecond),
                                Input = Setup(),
                                garbage_collect(),
                                timer:sleep(100),
                                Self ! {ready, self(), erlang:monotonic_time(millisecond) - T0},
                                receive go -> ok end,
                                Self ! {done, self(), Work(Input)},
                                receive exit -> ok end
                        end),
    SetupMs = receive {ready, Worker, Ms} -> Ms end,
    Ticker = spawn_link(fun() -> tick(erlang:monotonic_time(microsecond), []) end),
    Worker ! go,
    Result = receive {done, Worker, R} -> R end,
    Ticker ! {stop, Self},
    Gaps = receive {gaps, Ticker, G} -> G end,
    Worker ! exit,
    {Gaps, Result, SetupMs}.

tick(Last, Gaps) ->
    receive
        {stop, From} -> From ! {gaps, self(), Gaps}
    after 1 ->
            Now = erlang:monotonic_time(microsecond),
            tick(Now, [(Now - Last) / 1000 | Gaps])
    end.
