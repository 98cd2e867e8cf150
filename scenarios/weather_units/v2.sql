-- Flatten the parallel hourly arrays, convert to imperial units.
WITH hourly AS (
    SELECT place,
           unnest(hourly['time']) AS forecast_time,
           unnest(hourly['temperature_2m']) AS temperature_c,
           unnest(hourly['wind_speed_10m']) AS wind_kmh,
           unnest(hourly['precipitation']) AS precipitation_mm
    FROM forecast
)
SELECT place,
       forecast_time,
       round(temperature_c * 9 / 5 + 32, 1) AS temperature_f,
       round(wind_kmh * 1.609344, 1) AS wind_mph,
       precipitation_mm
FROM hourly
