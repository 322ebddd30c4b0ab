"""Stories: the glue between the store and the pure dedup engine.

``state`` keeps this process's engine equal to the database; ``place`` puts a run's new entries
into stories; ``elect`` re-elects representatives; ``retention``, ``rebuild`` and ``explain``
serve the maintenance commands. The engine itself (``aggregator.dedup``) reads nothing: this
package reads what it needs, hands it values, and writes what it decides.
"""
