"""Print the current weather for a city."""

import os
import sys

import requests

API_KEY = os.environ.get("WEATHER_API_KEY")


def current(city):
    r = requests.get(
        "https://api.openweathermap.org/data/2.5/weather",
        params={"q": city, "units": "metric"},
        headers={"X-Api-Key": API_KEY},
        timeout=10,
    )
    r.raise_for_status()
    return r.json()["main"]["temp"]


if __name__ == "__main__":
    print(current(sys.argv[1]))
