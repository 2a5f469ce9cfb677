"""The Hub JSON API front door: parse the request, call one service, render the answer."""
