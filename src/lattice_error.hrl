%% Re-raises badarg from the calling API function with its arguments, so that
%% lattice_error:format_error/2 can say which argument is wrong and why (OTP's error_info).
-define(BADARG(Args), erlang:error(badarg, Args, [{error_info, #{module => lattice_error}}])).
