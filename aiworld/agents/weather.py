"""The weather/time agent: the next weather of a map from its climate and the current weather
(weather persists more often than it changes), written to the map's WorldState; severe weather is
also announced as a WorldEvent the map server can show."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from aiworld.agents import geography
from aiworld.agents.base import Agent, MapInputs, Strict, Text, hour_of, map_state, seeded
from aiworld.agents.events import create_event
from aiworld.models import WorldState

Weather = Literal["clear", "cloudy", "rain", "storm", "fog", "snow", "sandstorm", "heatwave"]
SEVERE = ("storm", "snow", "sandstorm", "heatwave", "fog")
CLIMATE_WEATHER = {  # weights per climate
    "temperate": {"clear": 5, "cloudy": 3, "rain": 3, "storm": 1, "fog": 1},
    "desert": {"clear": 6, "heatwave": 3, "sandstorm": 2, "cloudy": 1},
    "snow": {"snow": 5, "cloudy": 3, "clear": 2, "fog": 1, "storm": 1},
    "volcanic": {"clear": 3, "cloudy": 3, "heatwave": 3, "storm": 1},
    "swamp": {"fog": 5, "rain": 3, "cloudy": 2, "storm": 1},
    "dungeon": {"clear": 1},
}
BASE_TEMP = {"temperate": 16, "desert": 34, "snow": -8, "volcanic": 38, "swamp": 18, "dungeon": 12}
WEATHER_TEMP = {"rain": -3, "storm": -5, "snow": -6, "fog": -2, "heatwave": 8, "sandstorm": 3}
ELEMENT = {"rain": (90, 120, 100), "storm": (80, 120, 130), "snow": (80, 110, 100), "heatwave": (120, 80, 100),
           "sandstorm": (100, 90, 130)}  # fire, water, wind damage %


class WeatherEffects(Strict):
    fire_pct: int = Field(100, ge=50, le=150)
    water_pct: int = Field(100, ge=50, le=150)
    wind_pct: int = Field(100, ge=50, le=150)
    visibility: Literal["normal", "reduced", "poor"] = "normal"


class WeatherOutput(Strict):
    weather: Weather
    time_of_day: Literal["dawn", "day", "dusk", "night"]
    temperature_c: int = Field(ge=-40, le=55)
    description: str = Text(200)
    effects: WeatherEffects


def time_of_day(hour: int) -> str:
    return "dawn" if 5 <= hour < 8 else "day" if 8 <= hour < 18 else "dusk" if 18 <= hour < 21 else "night"


def offline(inputs: MapInputs) -> WeatherOutput:
    climate, hour = geography.info(inputs.map).climate, hour_of(inputs)
    current = map_state(inputs.map, inputs.server).get("weather", "clear")
    rng = seeded("weather", inputs.map, hour, current)
    weights = CLIMATE_WEATHER[climate]
    if current in weights and rng.random() < 0.6:
        weather = current  # fronts last: 60% chance the weather holds for another tick
    else:
        names = sorted(weights)
        weather = rng.choices(names, weights=[weights[n] for n in names])[0]
    tod = time_of_day(hour)
    temp = BASE_TEMP[climate] + WEATHER_TEMP.get(weather, 0) - (6 if tod == "night" else 3 if tod == "dawn" else 0)
    fire, water, wind = ELEMENT.get(weather, (100, 100, 100))
    visibility = "poor" if weather in ("fog", "sandstorm") else "reduced" if weather in ("storm", "snow") else "normal"
    return WeatherOutput(weather=weather, time_of_day=tod, temperature_c=int(temp),
                         description=f"{tod.capitalize()} in {inputs.map}: {weather}, {int(temp)} degrees.",
                         effects=WeatherEffects(fire_pct=fire, water_pct=water, wind_pct=wind, visibility=visibility))


def apply(output: WeatherOutput, inputs: MapInputs) -> dict:
    rows = WorldState.objects.filter(map=inputs.map)
    if inputs.server:
        rows = rows.filter(server=inputs.server)
    states = list(rows) or [WorldState(server=inputs.server, map=inputs.map, state={})]
    fields = {"weather": output.weather, "time_of_day": output.time_of_day, "temperature_c": output.temperature_c,
              "weather_effects": output.effects.model_dump()}
    for state in states:
        state.state = {**state.state, **fields}
        state.save()
    applied: dict = {"world_states": [s.pk for s in states]}
    if output.weather in SEVERE:
        event = create_event("weather", "weather", f"{output.weather.capitalize()} over {inputs.map}",
                             output.description, inputs.map, fields, 60)
        applied["world_event"] = event.pk
    return applied


AGENTS_HERE = (Agent(
    "weather", "periodic", "Weather and time keeper", "Give each map believable weather for its climate",
    "You are the sky of a fantasy world.", "Decide the map's weather and time of day for the next hour.",
    MapInputs, WeatherOutput, offline, apply,
    lambda i: {"climate": geography.info(i.map).climate, "current": map_state(i.map, i.server).get("weather"),
               "hour": hour_of(i)},
    "weather, time of day, temperature and element modifiers in WorldState; severe weather as a WorldEvent"),)
